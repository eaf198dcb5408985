"""The notMNIST letters task: where its data comes from and what its classes are."""
from pathlib import Path

from .data import DatasetSpec

LETTERS = tuple("ABCDEFGHIJ")
SPEC = DatasetSpec(
    hub_id="anubhavmaity/notMNIST",
    env_var="NOTMNIST_DATA",
    classes=LETTERS,
    image_size=28,
    aliases={},
    bundled=Path(__file__).parent / "assets" / "notmnist_sample",
)
