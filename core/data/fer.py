"""The FER-2013 emotions task: where its data comes from, its classes and their other spellings, and how faces
become model inputs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..config import Experiment
from .sources import DatasetSpec

if TYPE_CHECKING:
    from .transforms import FaceTransform

EMOTIONS = ("angry", "disgusted", "fearful", "happy", "neutral", "sad", "surprised")
SPEC = DatasetSpec(
    # No hub copy of FER-2013 keeps the standard Training/PublicTest/PrivateTest protocol in a safe format,
    # so users name their copy; a hub id in parquet/image layout works too.
    hub_id=None,
    env_var="FER_DATA",
    classes=EMOTIONS,
    image_size=48,
    aliases={"disgust": "disgusted", "fear": "fearful", "surprise": "surprised"},
    splits=("train", "validation", "test"),
    validation_fraction=0.1,
    annotator_votes=True,
    how_to_get=(
        "Use a dataset folder with train/validation/test splits, a hub id, or the Kaggle download "
        "(msambare/fer2013: train/ and test/ with one folder per emotion)."
    ),
)


def make_transform(config: Experiment) -> FaceTransform:
    from .transforms import FaceTransform  # torch, only when a transform is needed

    return FaceTransform(config)


def preprocessing(config: Experiment) -> dict[str, Any]:
    """What meta.json says about turning a face crop into this model's input."""
    from .transforms import IMAGENET_MEAN, IMAGENET_STD

    return {
        "decoded_size": SPEC.image_size,
        "image_size": config.img_size,
        "eval_crop": config.eval_crop,  # the centre share of the face's side the model sees (1: all of it)
        "input": "N x 1 x size x size in [0, 1]",
        "grayscale_to_rgb": "repeat, inside the first conv (core.models.backbones.GrayToRGBConv)",
        "mean": IMAGENET_MEAN,
        "std": IMAGENET_STD,
        "function": "core.data.transforms.preprocess_faces",
        "augmentation": {
            "crop_scale": config.crop_scale,
            "flip": config.flip,
            "rotation": config.rotation,
            "erasing": config.erasing,
        },
    }
