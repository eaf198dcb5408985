"""The face-detector seam, without an emotion model: the Haar cascade finds real faces and frames them as FER-2013
does; any detector with the same two methods (a stub here) drives the framed-faces data and the emotion reader."""

import numpy as np
import pytest

from core.data.cache import load_split
from core.data.fer import SPEC
from core.inference.faces import FaceDetector, Framing, HaarCascade, face_crop
from core.study.in_frames import framed_faces, matching_face, paste
from tests.fake_camera import face_frame

skimage_data = pytest.importorskip("skimage.data")


class FixedBox:
    """A detector that 'finds' one box wherever it is asked: the seam needs nothing else."""

    framing = Framing(margin=1.0)

    def __init__(self, box=(10, 10, 28, 28)):
        self.box, self.calls = box, 0

    def find(self, gray):
        self.calls += 1
        return [self.box]

    def fresh(self):
        return FixedBox(self.box)


@pytest.fixture(scope="module")
def fer_validation(fer_dir):
    return load_split(SPEC, str(fer_dir), "validation").head(200)


def test_the_cascade_finds_real_faces_and_none_in_a_blank_frame():
    cascade = HaarCascade()
    boxes = cascade.find(np.asarray(skimage_data.astronaut().mean(2), dtype=np.uint8))
    x, y, w, h = max(boxes, key=lambda b: b[2])
    assert 150 <= x + w / 2 <= 300 and 60 <= y + h / 2 <= 200  # her face, in the upper middle
    assert cascade.find(np.zeros((480, 640), np.uint8)) == []
    assert len(cascade.find(face_frame().mean(2).astype(np.uint8))) >= 1  # the fake camera's face
    twin = cascade.fresh()
    assert twin is not cascade and twin.cascade is not cascade.cascade and twin.framing == cascade.framing


def test_the_cascades_framing_is_what_fer_faces_measure(fer_validation):
    """FER-2013's faces pasted into frames: their side over the cascade's box is the framing the cascade carries."""
    cascade, rng = HaarCascade(), np.random.default_rng(0)
    ratios = []
    for face in fer_validation.images[:, 0].numpy():
        frame, truth = paste(face, rng)
        best = matching_face(cascade, frame, truth)
        if best is not None:
            ratios.append(truth[2] / best[2])
    assert len(ratios) > 0.5 * len(fer_validation)  # Haar finds most of them (not all: many are turned or tilted)
    assert abs(float(np.median(ratios)) - HaarCascade.FRAMING.margin) < 0.05
    assert abs(float(np.median(ratios)) - 1.2) > 0.1  # the earlier, wider crop is measurably off


def test_a_detector_crops_with_its_own_framing():
    gray = np.arange(100 * 100, dtype=np.uint32).reshape(100, 100).astype(np.uint8)
    tight, wide = face_crop(gray, (40, 40, 20, 20), Framing(1.0)), face_crop(gray, (40, 40, 20, 20), Framing(1.5))
    assert tight[0] == (40, 40, 20, 20) and tight[1].shape == (20, 20)
    assert wide[0] == (35, 35, 30, 30) and wide[1].shape == (30, 30)


def test_any_detector_drives_the_framed_faces_data(fer_validation):
    stub = FixedBox()
    assert isinstance(stub, FaceDetector)  # structurally: find, fresh and framing
    faces, found = framed_faces(fer_validation.head(20), face_detector=stub)
    assert stub.calls == 20 and faces.shape == (20, 48, 48)
    # the stub's box lies where the face was pasted only by chance: what it found is cropped, the rest kept whole
    kept = ~found
    assert np.array_equal(faces[kept], fer_validation.images[:20, 0].numpy()[kept])


def test_the_emotion_reader_takes_any_detector():
    from core.inference.emotions import EmotionDetector
    from tests.test_calibration import BEST_FER

    stub = FixedBox((200, 100, 120, 120))
    reader = EmotionDetector(BEST_FER, face_detector=stub, backend="torch", precision="fp32", memory_format="nchw")
    faces = reader.detect(np.full((480, 640, 3), 90, np.uint8))
    assert stub.calls == 1 and [f.box for f in faces] == [(200, 100, 120, 120)]  # cropped with the stub's framing
    wider = EmotionDetector(BEST_FER, face_detector=stub, framing=Framing(1.5), backend="torch", precision="fp32",
                            memory_format="nchw")  # fmt: skip
    assert [f.box for f in wider.detect(np.full((480, 640, 3), 90, np.uint8))] == [(170, 70, 180, 180)]
    session = reader.for_session()
    assert session.face_detector is not stub and session.face_detector.box == stub.box  # one detector per stream
