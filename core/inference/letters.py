"""Reading letters from image files or arrays with a trained notMNIST checkpoint."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..data.images import open_image, prepare_image
from ..data.tasks import batch_transform
from ..data.transforms import LetterTransform
from ..errors import CheckpointError
from ..runs.checkpoint import load_checkpoint
from .modes import inference_mode
from .runtime import predict_logits


@dataclass
class Prediction:
    label: str
    probabilities: dict[str, float]
    image: np.ndarray  # what the model saw (before any permutation), size x size uint8

    def to_dict(self) -> dict:
        return {"label": self.label, "probabilities": self.probabilities}


class LetterClassifier:
    """A notMNIST checkpoint loaded once, ready to classify any image a user has."""

    def __init__(self, checkpoint_dir: str | Path, precision: str = "auto", memory_format: str = "auto"):
        self.model, self.record = load_checkpoint(checkpoint_dir)
        self.config = self.record.config
        if self.config.task != "notmnist":
            raise CheckpointError(f"{checkpoint_dir} is a {self.config.task} model, not a letter (notmnist) model")
        self.mode, _ = inference_mode(self.model, self.config, 1, precision, memory_format)
        self.classes = list(self.record.classes)
        self.transform = batch_transform(self.config)
        # Images are decoded to this size, like the training data; the batch transform does the rest.
        self.image_size = self.record.decoded_size
        self.perm = self.transform.perm if isinstance(self.transform, LetterTransform) else None

    def prepare(self, image: Image.Image, invert: str = "auto", crop: bool = True) -> np.ndarray:
        """A user's image as the model's input: inverted if dark-on-light, cropped to the letter, resized."""
        return prepare_image(image, self.image_size, invert=invert, crop=crop)

    def predict_arrays(self, arrays: list[np.ndarray]) -> list[Prediction]:
        batch = torch.from_numpy(np.stack(arrays))[:, None]
        logits = predict_logits(self.model, batch, self.transform.eval, self.mode)
        probs = torch.softmax(logits, dim=1).numpy()
        return [
            Prediction(self.classes[int(p.argmax())], {c: float(v) for c, v in zip(self.classes, p)}, a)
            for p, a in zip(probs, arrays)
        ]

    @staticmethod
    def doubt(prepared: np.ndarray, prediction: Prediction) -> str | None:
        """Why a prediction may mean little: the input does not look like a notMNIST glyph (a bright letter on a
        dark ground, few mid-tones), or the model is unsure. None when nothing stands out."""
        ink = float((prepared > 127).mean())
        mid = float(((prepared > 40) & (prepared < 215)).mean())
        if ink < 0.03:
            return "the picture is almost empty after cropping: draw or upload one large letter"
        if mid > 0.5:
            return "this looks like a photo rather than a letter (mostly mid-grey): the model only knows letters A-J"
        if max(prediction.probabilities.values()) < 0.5:
            return "the model is unsure (no letter above 50 %): it may not be one of A-J"
        return None

    def predict_image(
        self, image: Image.Image | bytes | str | Path, invert: str = "auto", crop: bool = True
    ) -> Prediction:
        return self.predict_arrays([self.prepare(open_image(image), invert, crop)])[0]
