"""The FER-2013 emotions task: where its data comes from, its classes and their other spellings."""
from .data import DatasetSpec

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
    how_to_get=("Use a dataset folder with train/validation/test splits, a hub id, or the Kaggle download "
                "(msambare/fer2013: train/ and test/ with one folder per emotion)."),
)
