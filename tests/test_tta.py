"""Test-time augmentation of faces (flip, ten-crop) on real FER-2013 faces, and its record."""

import json

import pytest
import torch

from core.cli import main
from core.data.tasks import batch_transform
from core.inference.modes import FP32
from core.inference.runtime import predict_logits
from core.inference.tta import TEN_CROP_SHARE, crops, tta_logits, views
from core.runs.checkpoint import load_checkpoint
from core.runs.record import read_record


def test_the_five_crops_are_the_corners_and_the_centre():
    images = torch.arange(48 * 48, dtype=torch.int32).reshape(1, 1, 48, 48)
    side = round(48 * TEN_CROP_SHARE)
    five = crops(images)
    assert [c.shape[-1] for c in five] == [side] * 5
    assert five[0][0, 0, 0, 0] == 0 and five[3][0, 0, -1, -1] == 48 * 48 - 1  # top left, bottom right
    assert five[1][0, 0, 0, -1] == 47 and five[2][0, 0, -1, 0] == 47 * 48  # top right, bottom left
    centre = five[4][0, 0]
    offset = (48 - side) // 2
    assert centre[0, 0] == offset * 48 + offset
    assert [len(views(m)) for m in ("none", "flip", "ten-crop")] == [1, 2, 10]
    with pytest.raises(ValueError, match="ten-crop"):
        views("twelve-crop")


def test_flip_is_the_mean_of_the_face_and_its_mirror(fer_data):
    from core.runs.index import webcam_default
    from tests.conftest import ROOT

    shipped = webcam_default(ROOT / "checkpoints")  # a real model: the one-epoch test model answers the same always
    assert shipped is not None and shipped.path is not None
    model, record = load_checkpoint(shipped.path)
    faces = fer_data["test"].images[:64]
    transform = batch_transform(record.config)
    plain = predict_logits(model, faces, transform.eval, FP32)
    mirrored = predict_logits(model, faces.flip(-1), transform.eval, FP32)
    assert torch.allclose(tta_logits(model, faces, transform.eval, FP32, "flip"), (plain + mirrored) / 2, atol=1e-5)
    assert torch.allclose(tta_logits(model, faces, transform.eval, FP32, "none"), plain, atol=1e-5)
    ten = tta_logits(model, faces, transform.eval, FP32, "ten-crop")
    assert ten.shape == plain.shape and not torch.allclose(ten, plain, atol=1e-3)  # the crops are other views


def test_evaluate_records_the_tta_figures_and_keeps_the_trained_metrics(emotion_checkpoint, fer_dir, tmp_path, capsys):
    import shutil

    run = tmp_path / "fer-small"
    shutil.copytree(emotion_checkpoint, run)
    trained = read_record(run).metrics["test"].accuracy
    assert main(["evaluate", str(run), "--data", str(fer_dir), "--tta", "flip", "--record-tta", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    record = read_record(run)
    stored = record.test_time_augmentation["test"]["flip"]  # (ten-crop's views: test above; recorded the same way)
    assert stored["accuracy"] == printed["accuracy"] and stored["n"] == printed["n"] == 3589
    assert record.metrics["test"].accuracy == trained  # the trained single-crop figure is left as it was


def test_record_tta_without_tta_is_a_one_line_error(emotion_checkpoint, capsys):
    assert main(["evaluate", str(emotion_checkpoint), "--record-tta"]) == 2
    err = capsys.readouterr().err.strip()
    assert "give --tta flip or --tta ten-crop" in err and err.count("\n") == 0, err


def test_tta_on_a_letter_model_is_refused(small_checkpoint, capsys):
    out, _, _ = small_checkpoint
    assert main(["evaluate", str(out), "--tta", "flip"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--tta is for emotion (fer) models" in err and err.count("\n") == 0
