"""Nothing lost, nothing corrupted: each case a hostile but fair user tried, with its one-line message and a check
that nothing was lost or half-written (issue: run integrity, and a clear error for every bad input)."""

import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core.cli import main
from core.config import Experiment
from core.data.images import open_image
from core.engine.loop import TrainingDiverged, run_experiment
from core.errors import DataSourceError, ImageLoadError
from core.runs.files import weights_digest
from core.runs.layout import partial_dir
from core.runs.record import read_record
from tests.conftest import StopAfter, slices

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "checkpoints" / "notmnist"


def cli(*args, env=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "core", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})  # fmt: skip


def one_line_error(proc, code=2) -> str:
    assert proc.returncode == code, proc.stderr[-1500:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr[-1500:]
    return errors[0]


def small_train(out, data, *extra):
    return ["train", "notmnist", "--model", "mlp", "--epochs", "2", "--train-limit", "400", "--test-limit", "100",
            "--data", data, "--out", out, *extra]  # fmt: skip


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


# --- a run folder is never half old, half new ---------------------------------------------------------------


@pytest.mark.slow
def test_a_finished_run_is_kept_until_its_replacement_is_complete(tmp_path, notmnist_dir):
    out = tmp_path / "D"
    shutil.copytree(SHIPPED / "mlp-original-s0", out)
    (out / "model.safetensors").write_bytes((SHIPPED / "mlp-permuted0-s0" / "model.safetensors").read_bytes())
    before = snapshot(out)
    # without --overwrite: refused, nothing touched
    error = one_line_error(cli(*small_train(out, notmnist_dir, "--seed", "7")))
    assert "already holds a finished run" in error and "--overwrite" in error
    assert snapshot(out) == before
    # with --overwrite, killed while writing the state after epoch 1: the old run is still whole
    killed = cli(*small_train(out, notmnist_dir, "--seed", "7", "--overwrite"),
                 env={"STUDY_FAULT_POINT": "write:train_state.pt"})  # fmt: skip
    assert killed.returncode == -signal.SIGKILL
    assert snapshot(out) == before and partial_dir(out).is_dir()
    # and once the replacement finishes, the folder holds it, whole: its record names its weights
    done = cli(*small_train(out, notmnist_dir, "--seed", "7", "--overwrite"))
    assert done.returncode == 0, done.stderr[-1500:]
    record = read_record(out)
    assert record.config.seed == 7 and record.weights_sha256 == weights_digest(out / "model.safetensors")
    assert not partial_dir(out).exists()


@pytest.mark.slow
def test_two_writers_of_one_folder_the_second_is_refused(tmp_path, notmnist_dir):
    out = tmp_path / "D"
    # 300 epochs: the first writer is surely still training while the second one starts (30 raced it)
    command = [sys.executable, "-m", "core", *map(str, small_train(out, notmnist_dir, "--epochs", "300"))]
    first = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while not (partial_dir(out) / "last").exists() and time.time() < deadline:
            time.sleep(0.2)
        error = one_line_error(cli(*small_train(out, notmnist_dir, "--epochs", "300")))
        assert "is being written by process" in error and str(first.pid) in error
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=60)
    assert not out.exists()  # the first, cancelled, left its resumable state only


@pytest.mark.slow
@pytest.mark.parametrize(("flag", "value"), [("--batch-size", "32"), ("--lr", "0.01"), ("--seed", "3")])
def test_resume_with_another_setting_names_the_differences(tmp_path, notmnist_dir, flag, value):
    out = tmp_path / "D"
    killed = cli(*small_train(out, notmnist_dir), env={"STUDY_FAULT_POINT": "write:train_state.pt:2"})
    assert killed.returncode == -signal.SIGKILL
    state = snapshot(partial_dir(out) / "last")
    error = one_line_error(cli(*small_train(out, notmnist_dir, "--resume", flag, value)))
    assert "cannot resume" in error and flag.lstrip("-").replace("-", "_") in error
    assert snapshot(partial_dir(out) / "last") == state and not out.exists()


def test_resume_refuses_a_state_file_with_code_in_it(tmp_path, notmnist_data, notmnist_dir):
    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    config = Experiment(model="mlp", epochs=1, data=str(notmnist_dir))
    (partial_dir(tmp_path / "D") / "last").mkdir(parents=True)
    torch.save({"epoch": Exploit()}, partial_dir(tmp_path / "D") / "last" / "train_state.pt")
    from core.errors import CheckpointError

    with pytest.raises(CheckpointError, match="refused") as err:
        run_experiment(config, tmp_path / "D", data=slices(notmnist_data, 100, 50), resume=True)
    assert "weights_only" not in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "pwned").exists()


def test_divergence_stops_the_run_and_records_nothing(tmp_path, notmnist_data, notmnist_dir, monkeypatch):
    """A NaN weight (what an exploding learning rate leaves) stops the run with one line; no record is written."""
    import core.engine.loop
    from core.models import build_model

    def poisoned(config, num_classes=10, load_weights=True):
        model = build_model(config, num_classes, load_weights)
        with torch.no_grad():
            next(model.parameters()).view(-1)[0] = float("nan")
        return model

    monkeypatch.setattr(core.engine.loop, "build_model", poisoned)
    config = Experiment(model="mlp", epochs=2, data=str(notmnist_dir))
    with pytest.raises(TrainingDiverged, match="the loss became nan") as err:
        run_experiment(config, tmp_path / "D", data=slices(notmnist_data, 200, 50))
    assert "\n" not in str(err.value) and not (tmp_path / "D").exists()


# --- bad flags and settings: one line, exit 2 ---------------------------------------------------------------

BAD_FLAGS = {
    "infinite learning rate": (["--lr", "inf"], "--lr must be a finite number"),
    "negative learning rate": (["--lr", "-1"], "learning rate must be above 0"),
    "image size for notmnist": (["--img-size", "64"], "--img-size is a fer option"),
    "train limit 0": (["--train-limit", "0"], "train limit"),
    "test limit 0": (["--test-limit", "0"], "test limit"),
    "train limit negative": (["--train-limit", "-5"], "train limit"),
    "label smoothing 5": (["--label-smoothing", "5"], "label smoothing"),
    "freeze with notmnist": (["--freeze", "layer1", "--pretrained"], "is a fer option"),
    "shift 100": (["--shift", "100"], "shift"),
    "step size -1": (["--step-size", "-1"], "step size"),
    "huge batch": (["--batch-size", "100000"], "batch size"),
}


@pytest.mark.parametrize("case", BAD_FLAGS)
def test_bad_flags_are_one_line_errors(case, tmp_path, capsys):
    flags, expected = BAD_FLAGS[case]
    code = main(["train", "notmnist", "--data", "bundled", "--out", str(tmp_path / "D"), *flags])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0 and err.startswith("error:") and expected in err, err
    assert not (tmp_path / "D").exists() and not partial_dir(tmp_path / "D").exists()


@pytest.mark.parametrize("content", ['[{"task": "notmnist"}]', '{"task": "notmnist", "epochs": "ten"}', "{not json"])
def test_a_bad_config_file_is_a_one_line_error(content, tmp_path, capsys):
    (tmp_path / "c.json").write_text(content)
    assert main(["train", "notmnist", "--config", str(tmp_path / "c.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and err.count("\n") == 0


# --- bad files ----------------------------------------------------------------------------------------------


def test_an_image_folder_with_a_corrupt_png_names_the_file(tmp_path):
    sample = ROOT / "core" / "assets" / "notmnist_sample" / "test"
    for letter in "AB":
        shutil.copytree(sample / letter, tmp_path / "train" / letter)
    bad = tmp_path / "train" / "B" / "07.png"
    bad.write_bytes(bad.read_bytes()[:60])  # truncated
    from core.data import notmnist
    from core.data.cache import load_split

    with pytest.raises(DataSourceError, match="07.png") as err:
        load_split(notmnist.SPEC, str(tmp_path), "train")
    assert "\n" not in str(err.value) and "remove or replace" in str(err.value)


def png_header(width: int, height: int, color_type: int) -> bytes:
    """A PNG that declares its size and stops: enough for any reader to refuse it from the header."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0")) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("size", "color_type", "reason"),
    [(15000, 0, "too large"), (10000, 0, "too large"), (6300, 6, "MB decoded")],
)
def test_huge_images_are_refused_from_the_header_for_the_right_reason(size, color_type, reason):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ImageLoadError, match=reason) as err:
            open_image(png_header(size, size, color_type), name="big.png")
    assert "big.png" in str(err.value) and "\n" not in str(err.value)
    assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]


@pytest.mark.slow
def test_a_large_jpeg_decodes_reduced():
    import io

    buf = io.BytesIO()
    Image.new("RGB", (6000, 6000), (200, 30, 30)).save(buf, format="JPEG", quality=80)
    img = open_image(buf.getvalue(), name="big.jpg")
    assert max(img.size) <= 2048 and img.mode == "RGB"


@pytest.mark.slow
def test_predict_skips_a_fifo_and_predicts_the_rest(tmp_path):
    fifo = tmp_path / "x.png"
    os.mkfifo(fifo)
    letter = ROOT / "core" / "assets" / "notmnist_sample" / "test" / "C" / "00.png"
    proc = cli("predict", SHIPPED / "cnn-original-s1", fifo, letter, "--json", timeout=120)
    error = one_line_error(proc, code=1)
    assert "x.png" in error and "not a regular file" in error
    predictions = json.loads(proc.stdout)["predictions"]
    assert "error" in predictions[0] and predictions[1]["label"] in "ABCDEFGHIJ"


# --- issue 28: every bad input is one line that names it, and nothing is lost -------------------------------

FER_RUN = ROOT / "checkpoints" / "beyond" / "fer" / "mobilenet_v2-tuned-96px-s0"
LETTER = ROOT / "core" / "assets" / "notmnist_sample" / "test" / "C" / "00.png"
HUGE = str(10**20)


@pytest.mark.parametrize("flags", [["--seed", HUGE], ["--permute", "--permutation-seed", HUGE]])
def test_a_huge_seed_is_a_one_line_error(flags, tmp_path, capsys):
    code = main(["train", "notmnist", "--data", "bundled", "--out", str(tmp_path / "D"), *flags])
    err = capsys.readouterr().err.strip()
    name = "permutation seed" if "--permute" in flags else "seed"
    assert code == 2 and err.count("\n") == 0 and err.startswith(f"error: {name} must be between 0 and "), err
    assert not (tmp_path / "D").exists() and not partial_dir(tmp_path / "D").exists()


def test_a_run_whose_meta_json_has_a_huge_permutation_seed_is_refused_by_name(tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(SHIPPED / "cnn-permuted0-s0", run)
    meta = json.loads((run / "meta.json").read_text())
    meta["config"]["permutation_seed"] = 10**20
    (run / "meta.json").write_text(json.dumps(meta))
    before = snapshot(run)
    assert main(["predict", str(run), str(LETTER)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith(f"error: {run / 'meta.json'}") and "permutation seed" in err, err
    assert snapshot(run) == before


@pytest.mark.slow
@pytest.mark.parametrize("run", [SHIPPED / "cnn-original-s1", FER_RUN], ids=["letters", "emotions"])
def test_predict_refuses_a_lab_tiff_by_name_and_predicts_the_rest(run, tmp_path):
    lab = tmp_path / "lab.tif"
    Image.new("RGB", (64, 64), (200, 30, 30)).convert("LAB").save(lab)
    assert Image.open(lab).mode == "LAB"
    proc = cli("predict", run, lab, LETTER, "--json", timeout=240)
    error = one_line_error(proc, code=1)
    assert str(lab) in error and "colour mode LAB cannot be converted" in error, error
    first, second = json.loads(proc.stdout)["predictions"]
    assert "error" in first and second["file"] == str(LETTER) and "error" not in second
    if run == FER_RUN:
        assert isinstance(second["faces"], list)
    else:
        assert second["label"] in "ABCDEFGHIJ"


@pytest.mark.parametrize("nested", ["[" * 100_000 + "]" * 100_000, '{"a":' * 100_000 + "1" + "}" * 100_000])
def test_a_deeply_nested_meta_json_is_a_one_line_error(nested, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(SHIPPED / "cnn-original-s1", run)
    (run / "meta.json").write_text(nested)
    before = snapshot(run)
    assert main(["predict", str(run), str(LETTER)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {run / 'meta.json'} is not a run record: its JSON is nested too deeply to read", err
    assert snapshot(run) == before


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["no best_epoch", "config as a string"])
def test_resume_refuses_a_state_missing_a_field_or_of_the_wrong_kind(damage, tmp_path, notmnist_dir, notmnist_data,
                                                                     capsys):  # fmt: skip
    out = tmp_path / "D"
    config = Experiment(model="mlp", epochs=2, data=str(notmnist_dir), train_limit=400, test_limit=100)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(config, out, [StopAfter(1)], data=slices(notmnist_data, 400, 100))
    path = partial_dir(out) / "last" / "train_state.pt"
    state = torch.load(path, weights_only=True)
    if damage == "no best_epoch":
        del state["best_epoch"]
    else:
        state["config"] = json.dumps(state["config"])  # a string that names every field
    torch.save(state, path)
    before = snapshot(path.parent)
    code = main([str(a) for a in small_train(out, notmnist_dir, "--resume")])
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(errors) == 1, errors
    expected = "it has no 'best_epoch'" if damage == "no best_epoch" else "its 'config' is a str, not dict or None"
    assert str(path) in errors[0] and expected in errors[0] and "without --resume" in errors[0], errors[0]
    assert snapshot(path.parent) == before and not out.exists()


@pytest.mark.parametrize("labels", [lambda y: np.full_like(y, 99), lambda y: y - 1, lambda y: y.astype(np.float64)],
                         ids=["99", "minus one", "floats"])  # fmt: skip
def test_a_cache_file_with_rewritten_labels_is_damaged_and_rebuilt(labels, tmp_path, monkeypatch, caplog):
    from core.data import notmnist
    from core.data.cache import cache_path, load_split
    from core.data.sources import resolve_source

    monkeypatch.setenv("STUDY_CACHE_DIR", str(tmp_path / "cache"))
    truth = load_split(notmnist.SPEC, "bundled", "test").labels.clone()
    path = cache_path(resolve_source(notmnist.SPEC, "bundled"), "test", 28)
    with np.load(path) as npz:
        members = dict(npz)
    np.savez(path, **{**members, "labels": labels(members["labels"])})
    split = load_split(notmnist.SPEC, "bundled", "test")
    assert torch.equal(split.labels, truth)
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warned) == 1 and path.name in warned[0] and "damaged" in warned[0] and "labels" in warned[0]
    with np.load(path) as npz:  # the file was rebuilt whole
        assert np.array_equal(npz["labels"], truth.numpy())


@pytest.mark.parametrize("case", ["entry is a folder", "cache dir is a file", "cache dir unwritable"])
def test_a_cache_folder_that_cannot_be_used_is_a_one_line_error(case, tmp_path, monkeypatch, capsys):
    from core.data import notmnist
    from core.data.cache import cache_path
    from core.data.sources import resolve_source

    folder = {"cache dir unwritable": Path("/proc/dl-study-cache")}.get(case, tmp_path / "cache")
    monkeypatch.setenv("STUDY_CACHE_DIR", str(folder))
    if case == "entry is a folder":
        entry = cache_path(resolve_source(notmnist.SPEC, "bundled"), "test", 28)
        entry.mkdir(parents=True)
        (entry / "mine.txt").write_text("kept")
        named, reason = entry, "is a folder, not a cache file"
    elif case == "cache dir is a file":
        folder.write_text("kept")
        named, reason = folder, f"({folder} is a file, not a folder)"
    else:
        named, reason = folder, "cannot be created or written"
    assert main(["evaluate", str(SHIPPED / "cnn-original-s1"), "--data", "bundled"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("error: ") and str(named) in err and reason in err, err
    if case == "entry is a folder":
        assert (named / "mine.txt").read_text() == "kept"
    if case == "cache dir is a file":
        assert folder.read_text() == "kept"


@pytest.mark.slow
def test_evaluate_photos_names_an_unreadable_photo_and_counts_the_rest(tmp_path):
    photos = tmp_path / "photos"
    (photos / "happy").mkdir(parents=True)
    bad = photos / "happy" / "broken.jpg"
    bad.write_text("not a photo")
    alone = cli("evaluate", FER_RUN, "--photos", photos, timeout=240)  # the only photo: no figure, not a crash
    error = one_line_error(alone, code=1)
    assert error == f"error: {bad}: not an image file PIL can read", error
    assert "none of the photos" in alone.stdout
    shutil.copy(LETTER, photos / "happy" / "letter.png")
    both = cli("evaluate", FER_RUN, "--photos", photos, "--json", timeout=240)
    assert one_line_error(both, code=1) == error
    result = json.loads(both.stdout)
    assert result["n"] == 1 and result["unreadable"] == [error.removeprefix("error: ")]


def test_explain_out_naming_a_file_is_a_one_line_error(tmp_path, capsys):
    out = tmp_path / "overlays.png"
    out.write_bytes(b"mine")
    assert main(["explain", str(SHIPPED / "cnn-original-s1"), str(LETTER), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: --out {out}: cannot hold the overlay PNGs (it is a file, not a folder); give a folder"
    assert out.read_bytes() == b"mine"


@pytest.mark.parametrize("limit", ["-5", "0"])
def test_framed_faces_refuses_a_limit_below_one(limit, tmp_path, capsys):
    # a data folder that is not there: the limit must be refused first, before any face is read
    out = tmp_path / "framed"
    assert main(["framed-faces", "--data", str(tmp_path / "fer"), "--out", str(out), "--limit", limit]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: --limit {limit}: must be at least 1 face (leave it out for all)", err
    assert not out.exists()
