"""What the Live page's on-device mode needs from a FER run, so the browser reads faces exactly as the server does:
the ONNX file the server's own path exports (core.inference.onnx_runtime), the cascade file, and the settings of
the pipeline (framing, sizes, detection, smoothing, calibration). The browser code is ui/live_device/frontend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..data.transforms import crop_margin
from .emotions import EmotionDetector
from .faces import CASCADE_FILE, HaarCascade


def settings(detector: EmotionDetector) -> dict[str, Any]:
    """The pipeline's settings as JSON for the browser (every number the server's pipeline uses). The browser runs
    OpenCV's Haar cascade (opencv.js), so the server's detector must be that cascade too."""
    cascade = detector.face_detector
    if not isinstance(cascade, HaarCascade):
        raise TypeError(f"the on-device mode runs OpenCV's Haar cascade; this detector is a {type(cascade).__name__}")
    return {
        "classes": list(detector.classes),
        "decoded_size": detector.decoded_size,
        "image_size": detector.config.image_size,
        "crop_margin": crop_margin(detector.decoded_size, detector.config.eval_crop),
        "margin": detector.framing.margin,
        "shift_y": detector.framing.shift_y,
        "threshold": detector.threshold,
        "calibration": None if detector.calibration is None else detector.calibration.to_dict(),
        "detect_every": detector.detect_every,
        "detect_width": cascade.detect_width,
        "min_face": cascade.min_face,
        "smoothing": detector.tracker.alpha,
        "people": detector.people,
    }


def model_file(detector: EmotionDetector) -> Path | None:
    """The ONNX file the server runs this model from (None where ONNX Runtime is not in use: no on-device mode)."""
    return getattr(detector.onnx, "path", None)


def cascade_file() -> Path:
    return CASCADE_FILE
