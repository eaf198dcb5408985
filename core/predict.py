"""Predicting letters for image files or arrays with a trained checkpoint."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .checkpoint import load_checkpoint
from .config import Experiment
from .images import open_image, prepare_image
from .train import predict_logits
from .transforms import make_batches


@dataclass
class Prediction:
    label: str
    probabilities: dict[str, float]
    image: np.ndarray  # what the model saw (before any permutation), size x size uint8

    def to_dict(self) -> dict:
        return {"label": self.label, "probabilities": self.probabilities}


class Classifier:
    """A checkpoint loaded once, ready to classify any image a user has."""

    def __init__(self, checkpoint_dir: str | Path):
        self.model, self.meta = load_checkpoint(checkpoint_dir)
        self.config = Experiment.from_dict(self.meta["config"])
        self.classes = list(self.meta["classes"])
        self.batches = make_batches(self.config)
        # Images are decoded to this size, like the training data; the batch transform does the rest.
        self.image_size = int(self.meta["preprocessing"].get("decoded_size", self.config.img_size))
        self.perm = getattr(self.batches, "perm", None)

    def prepare(self, image: Image.Image, invert: str = "auto", crop: bool = True) -> np.ndarray:
        """A user's image as the model's input: inverted if dark-on-light, cropped to the letter, resized."""
        return prepare_image(image, self.image_size, invert=invert, crop=crop)

    def predict_arrays(self, arrays: list[np.ndarray]) -> list[Prediction]:
        batch = torch.from_numpy(np.stack(arrays))[:, None]
        probs = torch.softmax(predict_logits(self.model, batch, self.batches.eval, self.config.bf16), dim=1).numpy()
        return [
            Prediction(self.classes[int(p.argmax())], {c: float(v) for c, v in zip(self.classes, p)}, a)
            for p, a in zip(probs, arrays)
        ]

    def predict_image(self, image: Image.Image | bytes | str | Path, invert: str = "auto",
                      crop: bool = True) -> Prediction:
        return self.predict_arrays([self.prepare(open_image(image), invert, crop)])[0]
