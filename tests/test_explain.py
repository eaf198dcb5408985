"""Explanations on real data: the maps are faithful (deleting what they point at hurts more than deleting at
random), they show the study's finding (the CNN's relevance is local on original pixels, not on permuted ones),
the permuted model's maps sit on the letter's grid, and the MLP's invariance is exact."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from core.cli import main
from core.data.permutation import make_permutation, permute_pixels
from core.data.tasks import batch_transform
from core.inference.explain import OnOwnGrid, attribute, morans_i
from core.runs.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parent.parent
LETTERS = ROOT / "checkpoints" / "notmnist"
BEST_FER = ROOT / "checkpoints" / "fer" / "sweep-mobilenet_v2-96px-10ep" / "none"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("checkpoint", "n"),
    [(LETTERS / "cnn-original-s1", 200), (BEST_FER, 60)],  # a 96 px face costs 30x a letter: 60 (margin 0.10 here)
    ids=["notmnist-cnn", "emotions"],
)
def test_maps_are_faithful_on_test_images(checkpoint, n, capsys, notmnist_dir, fer_dir):
    data = notmnist_dir if "notmnist" in str(checkpoint) else fer_dir
    assert main(["explain", str(checkpoint), "--faithfulness", str(n), "--data", str(data), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n"] == n and out["method"] == "integrated-gradients"
    assert out["deletion_drop"] > out["random_drop"] + 0.03, out


def test_the_cnn_relies_on_neighbourhoods_only_on_original_pixels(notmnist_data):
    images, labels = notmnist_data["test"].images[:200], notmnist_data["test"].labels[:200]
    local = {}
    for run in ("cnn-original-s1", "cnn-permuted0-s0"):
        model, record = load_checkpoint(LETTERS / run)
        local[run] = morans_i(attribute(model, batch_transform(record.config), images, "saliency", labels).maps).mean()
    assert local["cnn-original-s1"] > 0.2 and local["cnn-permuted0-s0"] < 0.1, local


def test_the_permuted_models_map_is_its_gradient_mapped_back_to_the_letter(notmnist_data):
    model, record = load_checkpoint(LETTERS / "cnn-permuted0-s0")
    transform = batch_transform(record.config)
    images = notmnist_data["test"].images[:8]
    ours = attribute(model, transform, images, "saliency").maps
    scrambled = permute_pixels(images.float() / 255, transform.perm).requires_grad_(True)
    logits = model(scrambled)
    logits.gather(1, logits.argmax(1, keepdim=True)).sum().backward()
    inverse = torch.empty_like(transform.perm)
    inverse[transform.perm] = torch.arange(len(transform.perm))
    mapped_back = permute_pixels(scrambled.grad.abs(), inverse)[:, 0].numpy()
    np.testing.assert_allclose(ours, mapped_back, rtol=1e-4, atol=1e-7)
    assert isinstance(OnOwnGrid(model, transform).perm, torch.Tensor)


def test_the_mlp_is_exactly_invariant_to_a_fixed_permutation(notmnist_data):
    model, _ = load_checkpoint(LETTERS / "mlp-original-s0")
    perm = make_permutation(7)
    x = notmnist_data["test"].images[:256].float() / 255
    with torch.no_grad():
        original = model(x)
        permuted = model.for_permuted_inputs(perm)(permute_pixels(x, perm))
    torch.testing.assert_close(permuted, original, rtol=1e-5, atol=1e-5)
    assert model.first_layer_maps().shape == (512, 28, 28)


def test_explain_command_writes_overlays_and_refuses_bad_input_in_one_line(tmp_path, capsys, caplog):
    bad = tmp_path / "not-an-image.png"
    bad.write_text("hello")
    checkpoint = str(LETTERS / "cnn-original-s1")
    code = main(["explain", checkpoint, str(ROOT / "ui" / "icon.png"), str(bad), "--out", str(tmp_path), "--json"])
    out = json.loads(capsys.readouterr().out)
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert code == 1 and len(errors) == 1 and "not-an-image.png" in errors[0] and "\n" not in errors[0]
    overlay = Path(out["images"][0]["explained"][0]["overlay"])
    assert overlay.is_file() and overlay.stat().st_size > 1000
    assert main(["explain", checkpoint, "x.png", "--target", "Z"]) == 2
    assert "--target 'Z' is not one of this model's classes" in capsys.readouterr().err
    assert main(["explain", checkpoint]) == 2
    assert "give image files to explain, or --faithfulness N" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["explain", checkpoint, "x.png", "--method", "lime"])


def test_maps_by_emotion_on_real_faces_share_their_relevance_out_of_one(fer_data):
    from core.inference.explain import FACE_REGIONS, region_area
    from core.study.explanations import class_maps

    split = fer_data["test"].head(96)
    block = class_maps(BEST_FER, split, method="saliency", batch=40)
    assert block["n"] == 96 and sum(row["n"] for row in block["classes"].values()) == 96
    for name, row in block["classes"].items():
        assert 0 < row["eyes"]["mean"] < 1 and 0 < row["mouth"]["mean"] < 1, name
        assert row["eyes"]["mean"] + row["mouth"]["mean"] < 1
        assert np.asarray(row["map"]).shape == (24, 24) and np.asarray(row["map"]).max() == 1.0
        assert np.asarray(row["face"]).shape == (24, 24)
    assert block["area"]["eyes"] == region_area(FACE_REGIONS["eyes"]) > 0.1
    # the faces are real: the mean face is darker in the eye band than on the forehead above it
    face = np.mean([np.asarray(r["face"]) for r in block["classes"].values()], axis=0)
    assert face[8:11].mean() > face[2:4].mean() - 40 and face[8:11, 4:20].mean() < face[3:5, 8:16].mean()


def test_explain_records_its_figures_in_the_run_and_refuses_bad_flags_in_one_line(tmp_path, capsys, notmnist_dir):
    import shutil

    from core.runs.record import read_record

    run = tmp_path / "cnn"
    shutil.copytree(LETTERS / "cnn-original-s1", run)
    before = read_record(run)
    assert main(["explain", str(run), "--faithfulness", "64", "--method", "saliency", "--record",
                 "--data", str(notmnist_dir)]) == 0  # fmt: skip
    after = read_record(run)
    figures = after.explanations["split"]["saliency"]
    assert figures["n"] == 64 and 0 <= figures["morans_i"]["ci_low"] <= figures["morans_i"]["mean"]
    assert after.metrics == before.metrics and after.weights_sha256 == before.weights_sha256
    capsys.readouterr()
    assert main(["explain", str(run), "--by-class", "50"]) == 2
    assert "--by-class is for emotion (fer) models" in capsys.readouterr().err
    assert main(["explain", str(run), "x.png", "--record"]) == 2
    assert "--record stores the figures of --faithfulness N or --by-class N" in capsys.readouterr().err
    assert main(["explain", str(run), "--faithfulness", "0"]) == 2
    err = capsys.readouterr().err
    assert "--faithfulness must be at least 1 image" in err and err.count("\n") == 1


def test_the_live_grad_cam_overlay_is_made_at_a_reduced_rate_and_drawn_only_in_the_face_box():
    from core.inference.emotions import EmotionDetector
    from core.inference.explain import FaceCam
    from tests.fake_camera import face_frame

    detector = EmotionDetector(BEST_FER)
    cam = FaceCam(detector.model, detector.transform, detector.classes, interval=0.5)
    frame = face_frame()
    faces = detector.process(frame)
    assert faces
    shown = cam.on_frame(frame, faces, detector.prepare, now=100.0)
    x, y, w, h = max(faces, key=lambda f: f.box[2] * f.box[3]).box
    changed = np.any(shown != frame, axis=2)
    assert changed[y : y + h, x : x + w].mean() > 0.5 and changed.sum() == changed[y : y + h, x : x + w].sum()
    first = cam.heat.copy()
    assert not cam.update(detector.prepare(frame[y : y + h, x : x + w, 0]), "happy", now=100.2)  # not due yet
    assert cam.update(detector.prepare(frame[y : y + h, x : x + w, 0]), "sad", now=100.6)
    assert cam.heat.shape == first.shape and not np.array_equal(cam.heat, first)
    # the shared model is left as it was: Captum's hooks sit on the private copy
    assert not detector.model._forward_hooks and all(not m._forward_hooks for m in detector.model.modules())
    assert cam.on_frame(frame, [], detector.prepare, now=101.0) is frame
