"""Faces in a frame and their emotions: a face detector finds them (core.inference.faces; the Haar cascade unless
another is passed in), a FER checkpoint reads them.

`EmotionDetector(checkpoint_dir).detect(frame)` -> faces, each with a box, a label and probabilities for all
seven emotions. Crops go through the training pipeline's own preprocessing (core.data.images.prepare_image to the
decoded size, then core.data.transforms.preprocess_faces), all faces of a frame in one forward pass.
For video, `process(frame)` also smooths each face's probabilities over frames (matched by box overlap).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from ..data.images import prepare_image, to_grayscale_array
from ..data.tasks import batch_transform
from ..errors import CheckpointError
from ..runs.checkpoint import load_checkpoint
from ..runs.record import RunRecord
from .calibration import Calibration
from .faces import (
    Box,
    BoxFollower,
    FaceDetector,
    FaceTracker,
    Framing,
    HaarCascade,
    face_crop,
    to_gray,
    whole_face_box,
)
from .modes import inference_mode
from .onnx_runtime import onnx_forward
from .runtime import predict_logits


@dataclass
class Face:
    box: Box
    probabilities: dict[str, float]
    label: str
    confidence: float
    low_confidence: bool
    track_id: int | None = None

    def to_dict(self) -> dict:
        return {
            "box": list(self.box),
            "label": self.label,
            "confidence": self.confidence,
            "low_confidence": self.low_confidence,
            "probabilities": self.probabilities,
        }


def _calibration(record: RunRecord, folder: Path) -> Calibration | None:
    """The run's fitted calibration (`python -m core calibrate`), or None for a run without one."""
    if record.calibration is None:
        return None
    try:
        return Calibration.from_dict(record.calibration, len(record.classes))
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{folder}/meta.json: field 'calibration' is not valid ({exc})") from None


def prepare_face(crop_gray: np.ndarray, size: int) -> np.ndarray:
    """A grayscale face crop -> the size x size uint8 image FER-2013's faces are decoded to (the same function)."""
    return prepare_image(Image.fromarray(crop_gray), size, invert="never")


class EmotionDetector:
    """A FER checkpoint plus a face detector: frames in, faces with emotions out. `face_detector` defaults to
    OpenCV's Haar cascade; `framing` to the detector's own (measured) framing."""

    def __init__(
        self,
        checkpoint_dir: str | Path,
        face_detector: FaceDetector | None = None,
        framing: Framing | None = None,
        threshold: float = 0.4,
        smoothing: float = 0.4,
        precision: str = "auto",
        memory_format: str = "auto",
        detect_every: int = 3,
        backend: str = "auto",
    ):
        self.model, self.record = load_checkpoint(checkpoint_dir)
        self.config = self.record.config
        if self.config.task != "fer":
            raise CheckpointError(f"{checkpoint_dir} is a {self.config.task} model, not an emotion (fer) model")
        # ONNX Runtime where it is installed (about 5x faster for one face); PyTorch in its fastest mode otherwise
        self.onnx = onnx_forward(self.model, self.record) if backend in ("auto", "onnx") else None
        self.mode = None if self.onnx else inference_mode(self.model, self.config, 1, precision, memory_format)[0]
        self.backend = "onnx runtime" if self.onnx or not self.mode else f"torch {self.mode.name}"
        self.calibration = _calibration(self.record, Path(checkpoint_dir))
        # trained on the FER+ vote distribution: its probabilities are what ten annotators would say (`reading`)
        self.people = self.config.labels == "ferplus-votes"
        if self.calibration is not None:
            threshold = self.calibration.threshold  # measured: below it, validation faces were mostly wrong
        self.checkpoint = Path(checkpoint_dir)
        self.classes = list(self.record.classes)
        self.decoded_size = self.record.decoded_size
        self.transform = batch_transform(self.config)
        self.face_detector: FaceDetector = face_detector or HaarCascade()
        self.framing = framing or self.face_detector.framing
        self.threshold = threshold
        self.tracker = FaceTracker(alpha=smoothing)
        self.detect_every = detect_every
        self.follower = BoxFollower()
        self._since_detection = 0

    def for_session(self) -> EmotionDetector:
        """The same model with its own face tracker and follower (one per video stream; the model is shared)."""
        twin = copy.copy(self)
        twin.tracker = FaceTracker(alpha=self.tracker.alpha)
        twin.follower = BoxFollower()
        twin.face_detector = self.face_detector.fresh()
        twin._since_detection = 0
        return twin

    def prepare(self, crop_gray: np.ndarray) -> np.ndarray:
        """A grayscale face crop -> the uint8 image the training data was decoded to (same function)."""
        return prepare_face(crop_gray, self.decoded_size)

    def classify(self, crops: list[np.ndarray]) -> np.ndarray:
        """Probabilities (N x 7) for grayscale face crops, in one forward pass."""
        if not crops:
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        batch = torch.from_numpy(np.stack([self.prepare(c) for c in crops]))[:, None]
        flip = self.calibration is not None and self.calibration.flip
        if flip:  # the faces and their mirror images in one forward pass, logits averaged
            batch = torch.cat([batch, batch.flip(-1)])
        if self.onnx is not None:
            logits = self.onnx(self.transform.eval(batch))
        else:
            logits = predict_logits(self.model, batch, self.transform.eval, self.mode)
        if flip:
            logits = (logits[: len(crops)] + logits[len(crops) :]) / 2
        if self.calibration is not None:
            return self.calibration.probabilities(logits).numpy()
        return torch.softmax(logits, dim=1).numpy()

    def _face(self, box: Box, p: np.ndarray, track_id: int | None = None) -> Face:
        best = int(p.argmax())
        return Face(
            box,
            {c: float(v) for c, v in zip(self.classes, p)},
            self.classes[best],
            float(p[best]),
            bool(p[best] < self.threshold),
            track_id,
        )

    def framed_crops(self, gray: np.ndarray, found: list[Box]) -> list[tuple[Box, np.ndarray]]:
        """The crop box of each found face (framed like FER-2013's faces) and its gray pixels."""
        return [face_crop(gray, b, self.framing) for b in found]

    def crops_and_probabilities(self, gray: np.ndarray, found: list[Box]) -> tuple[list[Box], np.ndarray]:
        """The crop box of each found face (framed like FER-2013's faces) and its probabilities."""
        framed = self.framed_crops(gray, found)
        return [box for box, _ in framed], self.classify([crop for _, crop in framed])

    def detect(self, frame: np.ndarray, order: str = "bgr") -> list[Face]:
        """Every face in one image (no smoothing)."""
        gray = to_gray(frame, order)
        boxes, probs = self.crops_and_probabilities(gray, self.face_detector.find(gray))
        return [self._face(b, p) for b, p in zip(boxes, probs)]

    def locate(self, gray: np.ndarray) -> list[Box]:
        """The faces of a video frame: the cascade every `detect_every` frames, or as soon as a followed face is
        lost; in between, the boxes follow the faces (core.inference.faces.BoxFollower)."""
        self._since_detection += 1
        followed = None if self._since_detection >= self.detect_every else self.follower.follow(gray)
        if followed is not None:
            return followed
        found = self.face_detector.find(gray)
        self.follower.reset(gray, found)
        self._since_detection = 0
        return found

    def process(self, frame: np.ndarray, order: str = "bgr") -> list[Face]:
        """Every face in a video frame, probabilities smoothed over the previous frames."""
        gray = to_gray(frame, order)
        boxes, probs = self.crops_and_probabilities(gray, self.locate(gray))
        return [self._face(b, p, tid) for b, (tid, p) in zip(boxes, self.tracker.update(boxes, probs))]

    def classify_face_image(self, image: Image.Image | np.ndarray, order: str = "rgb") -> Face:
        """A picture that is one face (`predict --no-detect`, the Live page's "one face"), no detection: framed
        as FER-2013 frames its faces (core.inference.faces.whole_face_box: padding trimmed, central square)."""
        gray = to_grayscale_array(image) if isinstance(image, Image.Image) else to_gray(image, order)
        x, y, w, h = box = whole_face_box(gray)
        return self._face(box, self.classify([gray[y : y + h, x : x + w]])[0])


def of_ten(share: float) -> int:
    """A predicted share of the annotators as people out of ten (half up: 0.65 -> 7)."""
    return int(share * 10 + 0.5)


def reading(face: Face | dict, people: bool) -> str:
    """What the page says of a face. A model trained on the FER+ votes (`people`) predicts what ten annotators
    would say: '≈ 7 of 10 people would say happy', or, where its distribution is flat (below the threshold fitted
    on the faces annotators split on), 'people would disagree: ≈ 4 of 10 sad, ≈ 3 of 10 neutral'. Any other
    model: 'happy · 71 %', '(unsure)' below its threshold."""
    f = face.to_dict() if isinstance(face, Face) else face
    if not people:
        return f"{f['label']} · {f['confidence']:.0%}" + (" (unsure)" if f["low_confidence"] else "")
    if not f["low_confidence"]:
        return f"≈ {of_ten(f['confidence'])} of 10 people would say {f['label']}"
    top = sorted(f["probabilities"].items(), key=lambda kv: -kv[1])[:2]
    return "people would disagree: " + ", ".join(f"≈ {of_ten(p)} of 10 {name}" for name, p in top)


def box_text(face: Face, people: bool) -> str:
    """The short label drawn over a face's box."""
    if people:
        return "people would disagree" if face.low_confidence else f"{face.label}: ~{of_ten(face.confidence)} of 10"
    return f"{face.label} {face.confidence:.0%}" + (" (unsure)" if face.low_confidence else "")


BOX_COLOUR = (0, 255, 0)  # BGR; the e2e test looks for this colour in the returned video
LOW_COLOUR = (0, 200, 255)


def draw_faces(frame: np.ndarray, faces: list[Face], order: str = "bgr", people: bool = False) -> np.ndarray:
    """A copy of the frame with each face boxed and labelled (`people`: as what ten people would say, see
    `reading`); 'no face found' when there is none."""
    out = np.ascontiguousarray(frame.copy())
    colour = (lambda c: c) if order == "bgr" else (lambda c: c[::-1])
    scale = max(0.5, out.shape[1] / 900)
    if not faces:
        cv2.putText(
            out,
            "no face found",
            (12, int(32 * scale)),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            colour((0, 0, 255)),
            max(1, int(2 * scale)),
            cv2.LINE_AA,
        )
    for face in faces:
        x, y, w, h = face.box
        c = colour(LOW_COLOUR if face.low_confidence else BOX_COLOUR)
        cv2.rectangle(out, (x, y), (x + w, y + h), c, max(2, int(3 * scale)))
        text = box_text(face, people)
        size, thick = scale * 0.8, max(1, int(2 * scale))
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, size, thick)
        pad = max(3, int(4 * scale))
        top = y - th - base - 2 * pad if y > th + base + 2 * pad else min(y + h, out.shape[0] - th - base - 2 * pad)
        # a filled label in the box's colour, dark text on it: legible on any background
        cv2.rectangle(out, (x, top), (x + tw + 2 * pad, top + th + base + 2 * pad), c, cv2.FILLED)
        cv2.putText(out, text, (x + pad, top + pad + th), cv2.FONT_HERSHEY_SIMPLEX, size, (20, 20, 20), thick,
                    cv2.LINE_AA)  # fmt: skip
    return out
