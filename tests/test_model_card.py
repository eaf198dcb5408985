"""Model cards from meta.json alone: every shipped run has one, with its real figures and the limits its own
counts show; the CLI prints it and a bad folder is one line."""

import io
import zipfile
from pathlib import Path

import pytest

from core.cli import main
from core.runs.index import run_folders
from core.runs.record import read_record
from core.study.model_card import hub_card, model_card

ROOT = Path(__file__).resolve().parent.parent
BEST_FER = ROOT / "checkpoints" / "fer" / "sweep-mobilenet_v2-96px-10ep" / "none"


def test_every_shipped_run_has_a_card_with_its_own_figures():
    for folder in run_folders(ROOT / "checkpoints"):
        record = read_record(folder)
        card = model_card(record)
        assert card.startswith(f"# Model card: {record.name}")
        assert f"| test | {record.test.n:,} | {record.test.accuracy * 100:.1f} %" in card
        assert f"python -m core train {record.task} " in card


def test_the_emotion_card_names_the_rare_and_the_missed_classes_from_its_counts():
    record = read_record(BEST_FER)
    card = model_card(record)
    support = {name: c.support for name, c in record.test.per_class.items()}
    share = support["disgusted"] / sum(support.values())
    assert share < 0.05 and f"*disgusted* is {share:.1%} of the test images ({support['disgusted']:,})" in card
    for name, c in record.test.per_class.items():
        assert (f"*{name}* {c.recall:.0%}" in card) == (c.recall < 0.5), name
    assert "Do not use it to decide anything about a person" in card
    assert "67.5 % [65.9, 69.0] of 3,301" in card  # the unseen-in-train figure with its interval


def test_card_command_prints_the_card_and_a_bad_folder_is_one_line(capsys, tmp_path):
    assert main(["card", str(BEST_FER), "--plain"]) == 0
    assert capsys.readouterr().out == model_card(read_record(BEST_FER))
    assert main(["card", str(BEST_FER)]) == 0
    assert capsys.readouterr().out == hub_card(read_record(BEST_FER))
    assert main(["card", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "is not a checkpoint" in err


def test_the_model_download_holds_the_card():
    from ui.runs import checkpoint_zip

    folder = ROOT / "checkpoints" / "notmnist" / "cnn-original-s1"
    with zipfile.ZipFile(io.BytesIO(checkpoint_zip(folder))) as archive:
        names = archive.namelist()
        assert "cnn-original-s1/MODEL_CARD.md" in names and "cnn-original-s1/meta.json" in names
        assert archive.read("cnn-original-s1/MODEL_CARD.md").decode() == model_card(read_record(folder))
        assert archive.read("cnn-original-s1/README.md").decode() == hub_card(read_record(folder))


@pytest.mark.parametrize("run", ["notmnist/cnn-original-s1", "beyond/fer/mobilenet_v2-tuned-ferplus-votes-96px-s0"])
def test_the_hub_card_front_matter_parses_with_huggingface_hub_and_holds_the_runs_figures(run, capsys):
    """`core card RUN` read back by huggingface_hub's own card parser (offline): the Hub's fields, and a
    model-index whose metrics are the run's meta.json figures, split by split."""
    from huggingface_hub import ModelCard

    folder = ROOT / "checkpoints" / run
    record = read_record(folder)
    assert main(["card", str(folder)]) == 0
    text = capsys.readouterr().out
    card = ModelCard(text)
    assert card.data.pipeline_tag == "image-classification" and card.data.license == "other"
    assert card.data.library_name == "pytorch" and record.config.arch in card.data.tags
    assert card.text.strip() == model_card(record).strip()  # the prose card follows the block
    found = {(r.dataset_split, r.metric_name): r.metric_value for r in card.data.eval_results}
    for split, m in record.metrics.items():
        assert found[(split, f"{split} accuracy")] == pytest.approx(m.accuracy)
        assert found[(split, f"{split} macro-F1")] == pytest.approx(m.macro_f1)
        if m.ferplus:
            assert found[(split, f"{split} FER+ majority accuracy")] == pytest.approx(m.ferplus["majority_accuracy"])
    if record.task == "notmnist":
        assert card.data.datasets == ["anubhavmaity/notMNIST"]


@pytest.mark.parametrize("page", ["app_pages/train.py", "app_pages/webcam.py"])
def test_pages_show_the_card_of_the_picked_model(page, monkeypatch, tmp_path):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("STUDY_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setattr("streamlit_webrtc.component.get_this_session_info", lambda: None)
    app = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    app.run()
    app.switch_page(page)
    app.run()
    assert not app.exception, app.exception
    assert any(e.label.startswith("Model card") for e in app.expander)
    assert any(m.value.startswith("# Model card: ") for m in app.markdown)
