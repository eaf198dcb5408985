from core.report import END, START, results_section, update_readme
from tests.conftest import ROOT


def test_readme_results_match_the_committed_meta_files():
    """Every number in the README's results section comes from checkpoints/*/meta.json."""
    assert update_readme(ROOT / "README.md", ROOT / "checkpoints", check=True), \
        "README.md results are out of date: run `python -m core report`"


def test_report_reads_real_numbers_from_meta():
    section = results_section(ROOT / "checkpoints")
    assert section.startswith(START) and section.endswith(END)
    import json

    meta = json.loads((ROOT / "checkpoints/notmnist/cnn-original-s0/meta.json").read_text())
    assert f"{meta['metrics']['test']['accuracy'] * 100:.2f} %" in section
