"""The live path's speed levers, checked for what they must not change: the box follower never shows a box off
the face, the detection rate holds, ONNX Runtime gives PyTorch's probabilities, and a missing runtime falls back."""

import logging

import numpy as np
import pytest

from core.inference import onnx_runtime
from core.inference.emotions import EmotionDetector
from core.inference.faces import BoxFollower, iou, to_gray
from tests.fake_camera import face_frame

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def detector(emotion_checkpoint):
    return EmotionDetector(emotion_checkpoint)


def moving_face(steps: int, speed: int) -> list[tuple[np.ndarray, tuple[int, int]]]:
    """The face crossing the frame left to right and back (offsets -90..90 px), `speed` px a frame."""
    offsets = []
    x, direction = -90, 1
    for _ in range(steps):
        offsets.append((x, (x // 3) % 20 - 10))  # a little up and down too
        if not -90 <= x + direction * speed <= 90:
            direction = -direction
        x += direction * speed
    return [(face_frame(dx=dx, dy=dy), (dx, dy)) for dx, dy in offsets]


def test_followed_boxes_stay_on_a_moving_face(detector):
    live = detector.for_session()
    live.detect_every = 30  # the follower alone carries the box for 29 frames of 30
    reference = max(detector.detect(face_frame()), key=lambda f: f.box[2]).box  # the face at offset 0
    shown = 0
    for frame, (dx, dy) in moving_face(90, speed=9):
        truth = (reference[0] + dx, reference[1] + dy, reference[2], reference[3])
        for face in live.process(frame):
            shown += 1
            assert iou(face.box, truth) > 0.7, (face.box, truth)  # never a box drifted off the face
    assert shown >= 89  # and the face is shown in (nearly) every frame


def test_a_face_that_vanishes_or_jumps_is_not_followed(detector):
    live = detector.for_session()
    live.process(face_frame())
    assert live.process(np.full((480, 640, 3), 90, np.uint8)) == []  # cut to an empty scene: no stale box
    live.process(face_frame(dx=-90))
    jumped = live.process(face_frame(dx=90))  # a cut to the face elsewhere: found there, not left behind
    reference = max(detector.detect(face_frame(dx=90)), key=lambda f: f.box[2]).box
    assert jumped and max(iou(f.box, reference) for f in jumped) > 0.5


def test_the_follower_loses_a_face_that_is_gone():
    gray = to_gray(face_frame())
    follower = BoxFollower()
    follower.reset(gray, [(230, 100, 180, 180)])
    assert follower.follow(gray) == [(230, 100, 180, 180)]
    assert follower.follow(np.full_like(gray, 90)) is None


def test_detection_rate_on_camera_frames(detector):
    rng = np.random.default_rng(1)
    live, found = detector.for_session(), 0
    for _ in range(150):
        dx, dy = (int(v) for v in rng.integers(-12, 13, size=2))
        noisy = face_frame(dx=dx, dy=dy).astype(np.int16) + rng.integers(-6, 7, size=(480, 640, 3))
        found += bool(live.process(np.clip(noisy, 0, 255).astype(np.uint8)))
    assert found / 150 >= 0.99


def test_onnx_runtime_gives_the_probabilities_of_pytorch(emotion_checkpoint, fer_data):
    fast = EmotionDetector(emotion_checkpoint)
    plain = EmotionDetector(emotion_checkpoint, backend="torch")
    assert fast.backend == "onnx runtime" and plain.backend.startswith("torch")
    faces = [img[0].numpy() for img in fer_data["test"].images[:64]]
    np.testing.assert_allclose(fast.classify(faces), plain.classify(faces), atol=1e-4)


def test_without_onnx_runtime_the_detector_runs_in_pytorch(emotion_checkpoint, monkeypatch, caplog):
    def missing(*args, **kwargs):
        raise ImportError("No module named 'onnxruntime'")

    monkeypatch.setattr(onnx_runtime, "OnnxForward", missing)
    with caplog.at_level(logging.INFO):
        detector = EmotionDetector(emotion_checkpoint)
    assert detector.backend.startswith("torch") and "runs in PyTorch" in caplog.text
    assert detector.classify([np.full((48, 48), 128, np.uint8)]).shape == (1, 7)
