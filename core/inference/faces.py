"""Finding faces in frames and following them between frames.

A face detector is anything that finds boxes in a gray frame and knows the crop around its own boxes that frames
a face as FER-2013 does (`FaceDetector`); OpenCV's Haar cascade (`HaarCascade`) is the one the app uses. Faces are
followed between detections by template matching (`BoxFollower`) and matched over frames by box overlap
(`FaceTracker`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Protocol, runtime_checkable

import cv2
import numpy as np

CASCADE_DIR: str = cv2.data.haarcascades  # type: ignore[attr-defined]  # opencv's stubs omit cv2.data
CASCADE_FILE = Path(CASCADE_DIR) / "haarcascade_frontalface_default.xml"
Box = tuple[int, int, int, int]  # x, y, width, height in frame pixels


def to_gray(frame: np.ndarray, order: str = "bgr") -> np.ndarray:
    """BGR/RGB/BGRA/RGBA or gray uint8 frame -> 2-D uint8 gray."""
    if frame.ndim == 2:
        return frame
    if frame.ndim != 3 or frame.shape[2] not in (3, 4):
        raise ValueError(f"expected an H x W x 3 (or 4) frame, got shape {frame.shape}")
    code = {
        ("bgr", 3): cv2.COLOR_BGR2GRAY,
        ("rgb", 3): cv2.COLOR_RGB2GRAY,
        ("bgr", 4): cv2.COLOR_BGRA2GRAY,
        ("rgb", 4): cv2.COLOR_RGBA2GRAY,
    }[(order, frame.shape[2])]
    return cv2.cvtColor(frame, code)


@dataclass(frozen=True)
class Framing:
    """The crop around a detector's box that frames a face as FER-2013's 48 x 48 faces are framed: a square
    `margin` times the box's side, moved down by `shift_y` of it. It belongs to the detector it was measured
    against (`python -m core evaluate RUN --in-frames N` prints the FER face side over the box)."""

    margin: float
    shift_y: float = 0.0


@runtime_checkable
class FaceDetector(Protocol):
    """Finds faces in a gray frame (boxes in frame pixels), with the framing measured for its boxes."""

    framing: Framing

    def find(self, gray: np.ndarray) -> list[Box]: ...

    def fresh(self) -> FaceDetector:
        """An independent detector of the same kind, for another thread or video stream."""
        ...


class HaarCascade:
    """OpenCV's frontal-face Haar cascade on a downscaled copy of the frame; boxes are mapped back to frame pixels."""

    # Measured with `evaluate --in-frames` (core.study.in_frames): FER's face side over the cascade's box is
    # 1.01-1.03 with the centres within 0.3 % (the earlier margin of 1.2 cost 8-12 points in frames).
    FRAMING: ClassVar[Framing] = Framing(margin=1.03, shift_y=0.0)

    def __init__(self, detect_width: int = 320, min_face: float = 0.1, framing: Framing = FRAMING):
        self.cascade = cv2.CascadeClassifier(str(CASCADE_FILE))
        if self.cascade.empty():
            raise RuntimeError(f"OpenCV's face cascade is missing ({CASCADE_FILE}); reinstall opencv-python-headless<5")
        self.detect_width = detect_width
        self.min_face = min_face  # smallest face, as a share of the shorter side
        self.framing = framing

    def fresh(self) -> HaarCascade:
        return HaarCascade(self.detect_width, self.min_face, self.framing)  # OpenCV's cascade: one per thread

    def find(self, gray: np.ndarray) -> list[Box]:
        h, w = gray.shape
        scale = min(1.0, self.detect_width / w)
        small = (
            cv2.resize(gray, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA) if scale < 1 else gray
        )
        small = cv2.equalizeHist(small)
        side = max(12, int(min(small.shape) * self.min_face))
        found = self.cascade.detectMultiScale(small, scaleFactor=1.15, minNeighbors=5, minSize=(side, side))
        return [(round(x / scale), round(y / scale), round(w / scale), round(h / scale)) for x, y, w, h in found]


class BoxFollower:
    """Follows faces between detections by template matching: each face's patch (on a half-size copy of the
    frame) is looked for in a window around where it was. About a millisecond a face, against ~30 ms for the
    cascade. A face whose best match scores below `min_score` is lost, so the caller detects again rather than
    show a box that drifted off the face. The template is the patch the cascade found (no drift from re-cutting
    it); the cascade runs again every few frames, so changes of pose and light have little time to build up."""

    def __init__(self, min_score: float = 0.6, search: float = 0.35, scale: float = 0.5):
        self.min_score = min_score
        self.search = search  # the window: the box grown by this share of its side on every edge
        self.scale = scale
        self.templates: list[tuple[Box, np.ndarray]] = []

    def _small(self, gray: np.ndarray) -> np.ndarray:
        return cv2.resize(gray, None, fx=self.scale, fy=self.scale, interpolation=cv2.INTER_AREA)

    def reset(self, gray: np.ndarray, boxes: list[Box]) -> None:
        small = self._small(gray)
        self.templates = []
        for box in boxes:
            x, y, w, h = (int(round(v * self.scale)) for v in box)
            patch = small[y : y + h, x : x + w]
            if patch.shape[0] >= 8 and patch.shape[1] >= 8:
                self.templates.append((box, patch.copy()))

    def follow(self, gray: np.ndarray) -> list[Box] | None:
        """Every followed face's box in this frame, or None when one of them is lost (detect again)."""
        if not self.templates:
            return None
        small = self._small(gray)
        H, W = small.shape
        moved: list[tuple[Box, np.ndarray]] = []
        for box, patch in self.templates:
            h, w = patch.shape
            x, y = int(round(box[0] * self.scale)), int(round(box[1] * self.scale))
            pad_x, pad_y = int(w * self.search) + 2, int(h * self.search) + 2
            left, top = max(0, x - pad_x), max(0, y - pad_y)
            window = small[top : min(H, y + h + pad_y), left : min(W, x + w + pad_x)]
            if window.shape[0] < h or window.shape[1] < w:
                return None  # at the frame's edge: leave it to the detector
            scores = cv2.matchTemplate(window, patch, cv2.TM_CCOEFF_NORMED)
            _, best, _, (bx, by) = cv2.minMaxLoc(scores)
            if best < self.min_score:
                return None
            nx, ny = left + bx, top + by
            # the detection's own patch stays the template: re-cut patches would let small errors add up
            moved.append(((round(nx / self.scale), round(ny / self.scale), box[2], box[3]), patch))
        self.templates = moved
        return [box for box, _ in moved]


def square_box(box: Box, frame_shape: tuple[int, int], margin: float = 1.2, shift_y: float = 0.0) -> Box:
    """A square around the face, `margin` times its larger side, its centre moved down by `shift_y` of the box's
    height (negative: up), clipped to the frame."""
    x, y, w, h = box
    side = int(round(max(w, h) * margin))
    cx, cy = x + w / 2, y + h / 2 + shift_y * h
    left, top = int(round(cx - side / 2)), int(round(cy - side / 2))
    H, W = frame_shape[:2]
    left, top = max(0, left), max(0, top)
    right, bottom = min(W, left + side), min(H, top + side)
    return left, top, right - left, bottom - top


def face_crop(gray: np.ndarray, box: Box, framing: Framing) -> tuple[Box, np.ndarray]:
    """The square crop box around a found face (`square_box`) and the gray pixels inside it."""
    x, y, w, h = square = square_box(box, gray.shape, framing.margin, framing.shift_y)
    return square, gray[y : y + h, x : x + w]


# A picture whose content (its padding trimmed) is at most this many pixels on a side and about square is taken
# as one face, not searched for faces: the cascade cannot find a face that fills a small picture (FER-2013's 48 px
# faces, or those enlarged a few times), and such pictures are faces far more often than scenes.
ONE_FACE_MAX_SIDE = 256


def picture_content(gray: np.ndarray, tolerance: int = 12, min_trim: float = 0.5) -> Box:
    """The picture without its padding: the box of the pixels that differ by more than `tolerance` grey levels
    from the border's median colour, when that box leaves out `min_trim` of the width or height or more (a
    picture padded onto a larger canvas); the whole picture otherwise (a face's own dark corners stay)."""
    h, w = gray.shape
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    differs = np.abs(gray.astype(np.int16) - int(np.median(border))) > tolerance
    rows, cols = np.flatnonzero(differs.any(axis=1)), np.flatnonzero(differs.any(axis=0))
    if rows.size == 0 or cols.size == 0:
        return 0, 0, w, h
    top, bottom, left, right = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    if bottom - top > (1 - min_trim) * h and right - left > (1 - min_trim) * w:
        return 0, 0, w, h
    return left, top, right - left, bottom - top


def whole_face_box(gray: np.ndarray) -> Box:
    """The square that frames a picture which is one face as FER-2013 frames its faces (the face filling a
    square): the central square of the picture's content (`picture_content`: its padding trimmed)."""
    x, y, w, h = picture_content(gray)
    side = min(w, h)
    return x + (w - side) // 2, y + (h - side) // 2, side, side


def looks_like_one_face(gray: np.ndarray, max_side: int = ONE_FACE_MAX_SIDE, squareness: float = 0.9) -> bool:
    """Whether a picture is better read as one face than searched for faces: its content is small and square."""
    _, _, w, h = picture_content(gray)
    return max(w, h) <= max_side and min(w, h) >= squareness * max(w, h)


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
        pairs = sorted(
            ((iou(b, t.box), i, tid) for i, b in enumerate(boxes) for tid, t in self.tracks.items()), reverse=True
        )
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
            matched = assigned.get(i)
            if matched is None:
                tid, self._next_id = self._next_id, self._next_id + 1
                self.tracks[tid] = _Track(box, p.copy())
            else:
                tid = matched
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
