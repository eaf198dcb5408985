"""The notMNIST letters task: where its data comes from, its classes, and how images become model inputs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import Experiment
from .sources import DatasetSpec

if TYPE_CHECKING:
    from .transforms import LetterTransform

LETTERS = tuple("ABCDEFGHIJ")
SPEC = DatasetSpec(
    hub_id="anubhavmaity/notMNIST",
    env_var="NOTMNIST_DATA",
    classes=LETTERS,
    image_size=28,
    aliases={},
    bundled=Path(__file__).resolve().parent.parent / "assets" / "notmnist_sample",
)


def make_transform(config: Experiment) -> LetterTransform:
    from .transforms import LetterTransform  # torch, only when a transform is needed

    return LetterTransform(config)


def preprocessing(config: Experiment) -> dict[str, Any]:
    """What meta.json says about turning an image into this model's input."""
    return {
        "image_size": config.img_size,
        "channels": 1,
        "scale": "uint8 / 255 -> [0, 1]",
        "user_images": "grayscale, dark-on-light inverted, cropped to the ink, padded square, resized "
        "(core.data.images.prepare_image)",
        "permutation": {"applied": config.permute, "seed": config.permutation_seed, "num_pixels": config.image_size**2},
    }
