"""Faces in a frame and their emotions: OpenCV finds them, a FER checkpoint reads them.

`EmotionDetector(checkpoint_dir).detect(frame)` -> faces, each with a box, a label and probabilities for all
seven emotions. Crops go through the training pipeline's own preprocessing (core.images.prepare_image to the
decoded size, then core.transforms.preprocess_faces), all faces of a frame in one forward pass.
For video, `process(frame)` also smooths each face's probabilities over frames (matched by box overlap).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from .checkpoint import CheckpointError, load_checkpoint
from .config import Experiment
from .images import prepare_image
from .train import predict_logits
from .transforms import make_batches

CASCADE_FILE = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
Box = tuple[int, int, int, int]  # x, y, width, height in frame pixels


@dataclass
class Face:
    box: Box
    probabilities: dict[str, float]
    label: str
    confidence: float
    low_confidence: bool
    track_id: int | None = None

    def to_dict(self) -> dict:
        return {"box": list(self.box), "label": self.label, "confidence": self.confidence,
                "low_confidence": self.low_confidence, "probabilities": self.probabilities}


def to_gray(frame: np.ndarray, order: str = "bgr") -> np.ndarray:
    """BGR/RGB/BGRA/RGBA or gray uint8 frame -> 2-D uint8 gray."""
    if frame.ndim == 2:
        return frame
    if frame.ndim != 3 or frame.shape[2] not in (3, 4):
        raise ValueError(f"expected an H x W x 3 (or 4) frame, got shape {frame.shape}")
    code = {("bgr", 3): cv2.COLOR_BGR2GRAY, ("rgb", 3): cv2.COLOR_RGB2GRAY,
            ("bgr", 4): cv2.COLOR_BGRA2GRAY, ("rgb", 4): cv2.COLOR_RGBA2GRAY}[(order, frame.shape[2])]
    return cv2.cvtColor(frame, code)


class FaceFinder:
    """Haar cascade on a downscaled copy of the frame; boxes are mapped back to frame pixels."""

    def __init__(self, detect_width: int = 320, min_face: float = 0.1):
        self.cascade = cv2.CascadeClassifier(str(CASCADE_FILE))
        if self.cascade.empty():
            raise RuntimeError(f"OpenCV's face cascade is missing ({CASCADE_FILE}); reinstall opencv-python-headless<5")
        self.detect_width = detect_width
        self.min_face = min_face  # smallest face, as a share of the shorter side

    def find(self, gray: np.ndarray) -> list[Box]:
        h, w = gray.shape
        scale = min(1.0, self.detect_width / w)
        small = cv2.resize(gray, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA) if scale < 1 else gray
        small = cv2.equalizeHist(small)
        side = max(12, int(min(small.shape) * self.min_face))
        found = self.cascade.detectMultiScale(small, scaleFactor=1.15, minNeighbors=5, minSize=(side, side))
        return [tuple(int(round(v / scale)) for v in box) for box in (found if len(found) else [])]


def square_box(box: Box, frame_shape: tuple[int, int], margin: float = 1.2) -> Box:
    """A square around the face, `margin` times its larger side, clipped to the frame."""
    x, y, w, h = box
    side = int(round(max(w, h) * margin))
    cx, cy = x + w / 2, y + h / 2
    left, top = int(round(cx - side / 2)), int(round(cy - side / 2))
    H, W = frame_shape[:2]
    left, top = max(0, left), max(0, top)
    right, bottom = min(W, left + side), min(H, top + side)
    return left, top, right - left, bottom - top


def iou(a: Box, b: Box) -> float:
    ax2, ay2, bx2, by2 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0, min(ax2, bx2) - max(a[0], b[0]))
    ih = max(0, min(ay2, by2) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union else 0.0


@dataclass
class _Track:
    box: Box
    probs: np.ndarray
    missed: int = 0


@dataclass
class FaceTracker:
    """Per-face exponential moving average of probabilities, faces matched between frames by box overlap."""

    alpha: float = 0.4  # weight of the newest frame
    min_iou: float = 0.3
    max_missed: int = 5  # frames a face may vanish before its history is dropped
    tracks: dict[int, _Track] = field(default_factory=dict)
    _next_id: int = 0

    def update(self, boxes: list[Box], probs: np.ndarray) -> list[tuple[int, np.ndarray]]:
        """(track id, smoothed probabilities) for each box, in order."""
        pairs = sorted(((iou(b, t.box), i, tid) for i, b in enumerate(boxes) for tid, t in self.tracks.items()),
                       reverse=True)
        assigned: dict[int, int] = {}
        used: set[int] = set()
        for overlap, i, tid in pairs:  # greedy: best overlaps first
            if overlap < self.min_iou:
                break
            if i not in assigned and tid not in used:
                assigned[i] = tid
                used.add(tid)
        out = []
        for i, (box, p) in enumerate(zip(boxes, probs)):
            tid = assigned.get(i)
            if tid is None:
                tid, self._next_id = self._next_id, self._next_id + 1
                self.tracks[tid] = _Track(box, p.copy())
            else:
                track = self.tracks[tid]
                track.probs = self.alpha * p + (1 - self.alpha) * track.probs
                track.box, track.missed = box, 0
            out.append((tid, self.tracks[tid].probs))
        for tid in list(self.tracks):
            if tid not in {t for t, _ in out}:
                self.tracks[tid].missed += 1
                if self.tracks[tid].missed > self.max_missed:
                    del self.tracks[tid]
        return out


class EmotionDetector:
    """A FER checkpoint plus a face finder: frames in, faces with emotions out."""

    def __init__(self, checkpoint_dir: str | Path, detect_width: int = 320, margin: float = 1.2,
                 threshold: float = 0.4, smoothing: float = 0.4):
        self.model, self.meta = load_checkpoint(checkpoint_dir)
        self.config = Experiment.from_dict(self.meta["config"])
        if self.config.task != "fer":
            raise CheckpointError(f"{checkpoint_dir} is a {self.config.task} model, not an emotion (fer) model")
        self.checkpoint = Path(checkpoint_dir)
        self.classes = list(self.meta["classes"])
        self.decoded_size = int(self.meta["preprocessing"]["decoded_size"])
        self.batches = make_batches(self.config)
        self.finder = FaceFinder(detect_width)
        self.margin = margin
        self.threshold = threshold
        self.tracker = FaceTracker(alpha=smoothing)

    def for_session(self) -> "EmotionDetector":
        """The same model with its own face tracker (one per video stream; the model is shared)."""
        twin = copy.copy(self)
        twin.tracker = FaceTracker(alpha=self.tracker.alpha)
        return twin

    def prepare(self, crop_gray: np.ndarray) -> np.ndarray:
        """A grayscale face crop -> the uint8 image the training data was decoded to (same function)."""
        return prepare_image(Image.fromarray(crop_gray), self.decoded_size, invert="never")

    def classify(self, crops: list[np.ndarray]) -> np.ndarray:
        """Probabilities (N x 7) for grayscale face crops, in one forward pass."""
        if not crops:
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        batch = torch.from_numpy(np.stack([self.prepare(c) for c in crops]))[:, None]
        logits = predict_logits(self.model, batch, self.batches.eval, self.config.bf16)
        return torch.softmax(logits, dim=1).numpy()

    def _face(self, box: Box, p: np.ndarray, track_id: int | None = None) -> Face:
        best = int(p.argmax())
        return Face(box, {c: float(v) for c, v in zip(self.classes, p)}, self.classes[best], float(p[best]),
                    bool(p[best] < self.threshold), track_id)

    def _boxes_and_probs(self, frame: np.ndarray, order: str) -> tuple[list[Box], np.ndarray]:
        gray = to_gray(frame, order)
        boxes = [square_box(b, gray.shape, self.margin) for b in self.finder.find(gray)]
        crops = [gray[y : y + h, x : x + w] for x, y, w, h in boxes]
        return boxes, self.classify(crops)

    def detect(self, frame: np.ndarray, order: str = "bgr") -> list[Face]:
        """Every face in one image (no smoothing)."""
        boxes, probs = self._boxes_and_probs(frame, order)
        return [self._face(b, p) for b, p in zip(boxes, probs)]

    def process(self, frame: np.ndarray, order: str = "bgr") -> list[Face]:
        """Every face in a video frame, probabilities smoothed over the previous frames."""
        boxes, probs = self._boxes_and_probs(frame, order)
        return [self._face(b, p, tid) for b, (tid, p) in zip(boxes, self.tracker.update(boxes, probs))]

    def classify_face_image(self, image: Image.Image) -> Face:
        """An image that is already a cropped face (--no-detect)."""
        gray = np.asarray(image.convert("L"))
        return self._face((0, 0, gray.shape[1], gray.shape[0]), self.classify([gray])[0])


def emotion_checkpoints(*roots: str | Path) -> list[tuple[Path, dict]]:
    """FER checkpoints with weights under the roots, best validation accuracy first (the webcam's default)."""
    from .checkpoint import list_checkpoints, read_meta

    found = []
    for root in dict.fromkeys(Path(r).resolve() for r in roots):
        for path in list_checkpoints(root, loadable=True):
            try:
                meta = read_meta(path)
            except CheckpointError:
                continue
            if meta["config"].get("task") == "fer":
                found.append((path, meta))
    return sorted(found, key=lambda pm: -(pm[1].get("metrics", {}).get("validation", {}).get("accuracy") or 0.0))


BOX_COLOUR = (0, 255, 0)  # BGR; the e2e test looks for this colour in the returned video
LOW_COLOUR = (0, 200, 255)


def draw_faces(frame: np.ndarray, faces: list[Face], order: str = "bgr") -> np.ndarray:
    """A copy of the frame with each face boxed and labelled; 'no face found' when there is none."""
    out = np.ascontiguousarray(frame.copy())
    colour = (lambda c: c) if order == "bgr" else (lambda c: c[::-1])
    scale = max(0.5, out.shape[1] / 900)
    if not faces:
        cv2.putText(out, "no face found", (12, int(32 * scale)), cv2.FONT_HERSHEY_SIMPLEX, scale, colour((0, 0, 255)),
                    max(1, int(2 * scale)), cv2.LINE_AA)
    for face in faces:
        x, y, w, h = face.box
        c = colour(LOW_COLOUR if face.low_confidence else BOX_COLOUR)
        cv2.rectangle(out, (x, y), (x + w, y + h), c, max(2, int(3 * scale)))
        text = f"{face.label} {face.confidence:.0%}" + (" (unsure)" if face.low_confidence else "")
        ty = y - 8 if y > 30 * scale else y + h + int(24 * scale)
        cv2.putText(out, text, (x, ty), cv2.FONT_HERSHEY_SIMPLEX, scale * 0.8, c, max(1, int(2 * scale)), cv2.LINE_AA)
    return out
