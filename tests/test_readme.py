from pathlib import Path

import pytest

from core.study.report import END, START, results_section, update_readme
from tests.conftest import ROOT


def test_readme_results_match_the_committed_meta_files():
    """Every number in the README's results section comes from checkpoints/*/meta.json."""
    assert update_readme(ROOT / "README.md", ROOT / "checkpoints", check=True), (
        "README.md results are out of date: run `python -m core report`"
    )


def test_report_reads_real_numbers_from_meta():
    section = results_section(ROOT / "checkpoints")
    assert section.startswith(START) and section.endswith(END)
    import json

    meta = json.loads((ROOT / "checkpoints/notmnist/cnn-original-s0/meta.json").read_text())
    assert f"{meta['metrics']['test']['accuracy'] * 100:.2f} %" in section


def test_readme_figures_exist_and_are_regenerated_from_the_committed_results(tmp_path):
    import re

    from core.study.figures import FiguresUnavailable, write_figures

    text = (ROOT / "README.md").read_text()
    images = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", text)
    assert images, "the README shows no figure"
    for image in images:
        assert (ROOT / image).is_file(), f"README links {image}, which does not exist"
    try:
        written = write_figures(ROOT / "checkpoints", tmp_path)
    except FiguresUnavailable as exc:
        pytest.fail(str(exc))
    # docs/figures/ is what `core report` draws; docs/screenshots/ holds pictures of other tools (TensorBoard)
    assert {p.name for p in written} == {Path(i).name for i in images if i.startswith("docs/figures/")}
    for path in written:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


def test_checkpoints_the_readme_tells_users_to_load_ship_their_weights():
    import re

    from core.runs.files import has_weights

    named = set(re.findall(r"(?:evaluate|predict) (checkpoints/notmnist/[\w-]+)", (ROOT / "README.md").read_text()))
    assert named
    for path in named:
        assert has_weights(ROOT / path), f"README loads {path}, which ships no weights"


def test_a_lever_is_shown_as_its_one_change_against_the_closest_beyond_recipe(tmp_path):
    import json
    import shutil

    from core.study.report import levers_section

    shipped = ROOT / "checkpoints/beyond/fer/mobilenet_v2-tuned-96px-s0"
    shutil.copytree(shipped, tmp_path / "beyond/fer/base", ignore=shutil.ignore_patterns("*.safetensors", "*.onnx"))
    assert levers_section(tmp_path) == ""  # no lever yet
    meta = json.loads((shipped / "meta.json").read_text())
    base_val = meta["metrics"]["validation"]["accuracy"]
    meta["config"].update(mixup=0.2, cutmix=1.0, data="elsewhere")  # where the data lies is no change
    meta["metrics"]["validation"]["accuracy"] = base_val + 0.0125
    (tmp_path / "levers/fer/mix").mkdir(parents=True)
    (tmp_path / "levers/fer/mix/meta.json").write_text(json.dumps(meta))
    section = levers_section(tmp_path)
    row = next(line for line in section.splitlines() if line.startswith("| fer"))
    assert "`--mixup 0.2 --cutmix 1.0`" in row and "`mobilenet_v2-tuned-96px-s0`" in row, row
    assert f"{base_val * 100:.2f} %" in row and "+1.25" in row, row
