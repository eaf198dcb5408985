"""The detector-in-the-loop evaluation on real FER-2013 faces: a face framed by the detector as FER frames it is
read about as well as the crop itself, and the old wider crop measurably worse."""

import pytest

from core.cli import main
from core.inference.emotions import EmotionDetector
from core.inference.faces import Framing, HaarCascade
from core.study.in_frames import in_frame_evaluation
from tests.test_calibration import BEST_FER, ROOT

pytestmark = pytest.mark.slow


def test_the_crop_matches_fer_framing_and_costs_little(fer_data):
    split = fer_data["validation"]
    matched = in_frame_evaluation(EmotionDetector(BEST_FER), split, 400)
    wide = in_frame_evaluation(EmotionDetector(BEST_FER, framing=Framing(margin=1.2)), split, 400)
    assert matched["detected"] > 0.55  # Haar finds most of FER's faces (not all: many are turned or tilted)
    assert matched["framing"]["margin"] == HaarCascade.FRAMING.margin
    assert abs(matched["framing"]["fer_side_over_box"] - HaarCascade.FRAMING.margin) < 0.05  # the crop is FER's framing
    assert matched["gap_points"] < 6 and wide["gap_points"] > matched["gap_points"] + 3


def test_in_frames_command(capsys):
    assert main(["evaluate", str(BEST_FER), "--split", "validation", "--in-frames", "40", "--json"]) == 0
    assert '"in_frame_accuracy_detected"' in capsys.readouterr().out
    assert main(["evaluate", str(BEST_FER), "--in-frames", "0"]) == 2
    assert "--in-frames must be at least 1 face" in capsys.readouterr().err


def test_framed_training_faces_are_the_faces_as_the_webcam_crops_them(fer_data):
    import numpy as np

    from core.study.in_frames import framed_faces

    split = fer_data["validation"].head(60)
    crops, found = framed_faces(split)
    originals = split.images[:, 0].numpy()
    assert crops.shape == originals.shape and found.mean() > 0.55
    assert (crops[~found] == originals[~found]).all()  # a missed face stays as it is
    # a found face is the same face, slightly reframed: close to its own original, far from the others
    own = [np.corrcoef(c.ravel(), o.ravel())[0, 1] for c, o in zip(crops[found], originals[found])]
    others = [np.corrcoef(c.ravel(), o.ravel())[0, 1] for c, o in zip(crops[found], np.roll(originals[found], 1, 0))]
    assert np.median(own) > 0.7 and np.median(own) > np.median(others) + 0.3
    assert not (crops[found] == originals[found]).all(axis=(1, 2)).any()


def test_framed_faces_command_writes_a_source_training_reads(tmp_path, capsys, fer_dir):
    from core.data.cache import load_split
    from core.data.fer import SPEC

    out = tmp_path / "framed"
    assert main(["framed-faces", "--data", str(fer_dir), "--out", str(out), "--limit", "30"]) == 0
    framed = {name: load_split(SPEC, str(out), name) for name in ("train", "validation", "test")}
    original = load_split(SPEC, str(fer_dir), "validation").head(30)
    assert 30 + 15 <= len(framed["train"]) <= 60 and len(framed["validation"]) == len(framed["test"]) == 30
    assert (framed["validation"].images == original.images).all()
    assert "framed training faces" in capsys.readouterr().out
    assert main(["framed-faces", "--data", str(fer_dir), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "is not empty" in err and err.count("\n") == 1


def test_evaluate_photos_reads_the_largest_face_of_each_labelled_photo(tmp_path, capsys, caplog, fer_data):
    import json

    import cv2
    import numpy as np

    from core.study.in_frames import paste

    split, rng = fer_data["validation"], np.random.default_rng(1)
    folders = {0: "angry", 1: "disgust", 3: "happy"}  # "disgust": FER-2013's other spelling is accepted
    for label, name in folders.items():
        (tmp_path / "photos" / name).mkdir(parents=True)
        faces = split.images[split.labels == label][:4, 0].numpy()
        for i, face in enumerate(faces):
            cv2.imwrite(str(tmp_path / "photos" / name / f"{i}.png"), paste(face, rng)[0])
    (tmp_path / "photos" / "happy" / "broken.jpg").write_text("not a photo")
    code = main(["evaluate", str(BEST_FER), "--photos", str(tmp_path / "photos"), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 1 and len(out["unreadable"]) == 1 and "broken.jpg" in out["unreadable"][0]
    assert out["n"] == 12 and out["true_counts"]["disgusted"] == 4 and out["true_counts"]["sad"] == 0
    found = round(out["faces_found"] * 12)
    assert sum(out["predicted_counts"].values()) == found >= 6
    assert round(out["accuracy_all"] * 12) == round(out["accuracy_found"] * found)  # a missed face counts as wrong
    assert set(out["never_predicted"]) == {c for c, n in out["predicted_counts"].items() if n == 0}
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "\n" not in errors[0]
    (tmp_path / "photos" / "bored").mkdir()
    assert main(["evaluate", str(BEST_FER), "--photos", str(tmp_path / "photos")]) == 2
    assert "the folder 'bored' names no emotion" in capsys.readouterr().err
    assert main(["evaluate", str(BEST_FER), "--photos", str(tmp_path / "nowhere")]) == 2
    assert "no such folder" in capsys.readouterr().err
    letters = str(ROOT / "checkpoints" / "notmnist" / "cnn-original-s1")
    assert main(["evaluate", letters, "--photos", str(tmp_path / "photos")]) == 2
    assert "--photos is for emotion (fer) models" in capsys.readouterr().err
