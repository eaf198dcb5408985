"""The evaluation crop (FixRes): a FER run may see the centre of each face wherever it is evaluated (training's
validation, `evaluate`, calibration, the webcam, explanations), set by `train --eval-crop`; `evaluate --eval-crop`
tries one on a finished run without changing it. On real FER-2013 faces."""

import json

import pytest
import torch

from core.cli import main
from core.config import Experiment
from core.data.tasks import batch_transform
from core.data.transforms import FaceTransform, centre_crop, crop_margin, resize_faces
from core.inference.explain import OnOwnGrid, region_area
from core.inference.modes import FP32
from core.inference.runtime import predict_logits
from core.runs.checkpoint import load_checkpoint


def test_a_centre_crop_is_the_middle_of_the_face_and_whole_faces_are_as_before(fer_data):
    faces = fer_data["test"].images[:32]
    whole = FaceTransform(Experiment(task="fer", img_size=96)).eval(faces)
    assert torch.equal(whole, resize_faces(faces.float() / 255, 96))  # default 1: the whole face
    cropped = FaceTransform(Experiment(task="fer", img_size=96, eval_crop=0.95)).eval(faces)
    assert torch.equal(cropped, resize_faces(faces[..., 1:47, 1:47].float() / 255, 96))  # one pixel off each edge
    assert not torch.allclose(cropped, whole, atol=0.05)
    for share in (0.5, 0.77, 0.9, 0.93, 0.95, 0.99, 1.0):
        margin = crop_margin(48, share)
        centre = centre_crop(faces, share)
        assert centre.shape[-1] == centre.shape[-2] == 48 - 2 * margin  # the same margin on every edge
        assert abs(centre.shape[-1] - 48 * share) <= 1.0
        # so the centre of a mirror image is the mirror image of the centre (flip averaging sees one face)
        assert torch.equal(centre_crop(faces.flip(-1), share), centre.flip(-1))


def test_gradcam_maps_lie_over_the_part_of_the_face_the_model_sees():
    net = OnOwnGrid(torch.nn.Identity(), FaceTransform(Experiment(task="fer", img_size=96, eval_crop=0.9)))
    cam = torch.rand(2, 1, 3, 3) + 0.1
    maps = net.on_grid(cam, (2, 1, 48, 48))
    margin = crop_margin(48, 0.9)
    assert maps.shape == (2, 1, 48, 48) and margin == 2
    assert (maps[..., :margin, :] == 0).all() and (maps[..., :, -margin:] == 0).all()
    assert (maps[..., margin:-margin, margin:-margin] > 0).all()
    whole = OnOwnGrid(torch.nn.Identity(), FaceTransform(Experiment(task="fer", img_size=96)))
    stretched = torch.nn.functional.interpolate(cam, size=(48, 48), mode="bilinear", align_corners=False)
    assert torch.equal(whole.on_grid(cam, (2, 1, 48, 48)), stretched)  # no crop: as Captum's interpolation


@pytest.mark.slow
def test_evaluate_tries_a_crop_on_a_finished_run_and_leaves_it_as_it_was(emotion_checkpoint, fer_dir, fer_data, capsys):
    before = (emotion_checkpoint / "meta.json").read_bytes()
    pinned = ["--precision", "fp32", "--memory-format", "nchw", "--json", "--data", str(fer_dir)]
    args = ["evaluate", str(emotion_checkpoint), "--split", "validation", *pinned]
    assert main([*args, "--eval-crop", "0.8"]) == 0
    tried = json.loads(capsys.readouterr().out)
    assert main(args) == 0
    plain = json.loads(capsys.readouterr().out)
    model, record = load_checkpoint(emotion_checkpoint)
    split = fer_data["validation"]
    for share, printed in ((0.8, tried), (1.0, plain)):
        transform = batch_transform(Experiment(**{**record.config.__dict__, "eval_crop": share}))
        logits = predict_logits(model, split.images, transform.eval, FP32)
        accuracy = (logits.argmax(1) == split.labels).float().mean().item()
        assert abs(printed["accuracy"] - accuracy) <= 2 / len(split), (share, printed["accuracy"], accuracy)
    assert record.config.eval_crop == 1.0 and (emotion_checkpoint / "meta.json").read_bytes() == before


def test_a_bad_eval_crop_is_one_line_and_changes_nothing(emotion_checkpoint, small_checkpoint, capsys):
    letters, _, _ = small_checkpoint
    before = (emotion_checkpoint / "meta.json").read_bytes()

    def refused(*args) -> str:
        assert main(["evaluate", *map(str, args)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0, err
        return err

    assert "eval crop must be between 0.5 and 1" in refused(emotion_checkpoint, "--eval-crop", "1.5")
    assert "--eval-crop must be a finite number" in refused(emotion_checkpoint, "--eval-crop", "nan")
    assert "--record-tta reads the run as it was trained" in refused(
        emotion_checkpoint, "--eval-crop", "0.9", "--tta", "flip", "--record-tta"
    )
    assert "--eval-crop is for emotion (fer) models" in refused(letters, "--eval-crop", "0.9")
    assert "for one run" in refused(emotion_checkpoint, emotion_checkpoint, "--eval-crop", "0.9")
    with pytest.raises(SystemExit) as parsed:  # argparse's own refusal: its usage, then one error line
        main(["evaluate", str(emotion_checkpoint), "--eval-crop", "most"])
    assert parsed.value.code == 2 and "invalid float value: 'most'" in capsys.readouterr().err.splitlines()[-1]
    assert (emotion_checkpoint / "meta.json").read_bytes() == before


@pytest.mark.slow
def test_a_run_trained_with_a_crop_is_recorded_as_it_sees_faces(fer_dir, capsys):
    """The shipped vote model trained with --eval-crop 0.95: its recorded test figures (from training) are what
    `evaluate` computes from its weights with its crop, in the mode it trained in; the whole face reads otherwise."""
    from core.runs.record import read_record
    from tests.conftest import ROOT

    run = ROOT / "checkpoints" / "beyond" / "fer" / "mobilenet_v2-tuned-ferplus-votes-96px-s3"
    record = read_record(run)
    assert record.config.eval_crop == 0.95 and record.preprocessing["eval_crop"] == 0.95
    trained = ["--precision", record.runtime["precision"], "--memory-format", record.runtime["memory_format"]]
    args = ["evaluate", str(run), "--data", str(fer_dir), "--split", "test", "--json", *trained]
    assert main(args) == 0
    now = json.loads(capsys.readouterr().out)
    assert now["accuracy"] == pytest.approx(record.test.accuracy, abs=1 / 3589)
    assert now["ferplus"]["majority_accuracy"] == pytest.approx(record.test.ferplus["majority_accuracy"], abs=1 / 3491)
    assert main([*args, "--eval-crop", "1"]) == 0
    whole = json.loads(capsys.readouterr().out)
    assert whole["ferplus"]["majority_accuracy"] != now["ferplus"]["majority_accuracy"]


def test_the_model_card_flat_maps_and_soups_know_the_crop(tmp_path, capsys):
    """The card says what of a face the model sees; a map flat over that part is the explanations' baseline; a soup
    refuses runs that see faces differently (one line, nothing written)."""
    import numpy as np

    from core.inference.explain import FACE_REGIONS, region_shares
    from core.runs.record import read_record
    from core.study.model_card import model_card
    from tests.conftest import ROOT

    runs = ROOT / "checkpoints" / "beyond" / "fer"
    cropped = runs / "mobilenet_v2-tuned-ferplus-votes-96px-s3"
    whole = runs / "mobilenet_v2-tuned-ferplus-votes-96px-s0"
    assert "the centre 46 of each 48 px side, `--eval-crop 0.95`" in model_card(read_record(cropped))
    assert "the centre" not in model_card(read_record(whole))
    flat = np.zeros((1, 48, 48))
    flat[:, 1:47, 1:47] = 1  # relevance spread evenly over what a 0.95 crop sees
    shares = region_shares(flat, FACE_REGIONS, side=48)
    for name, box in FACE_REGIONS.items():
        assert shares[name][0] == pytest.approx(region_area(box, crop=0.95))
        assert region_area(box, crop=0.95) > region_area(box)
    out = tmp_path / "soup"
    assert main(["soup", str(whole), str(cropped), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "--eval-crop" in err and err.count("\n") == 0 and not out.exists(), err
