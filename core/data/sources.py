"""Data sources: reading image-classification datasets through `datasets` into uint8 arrays.

A *source* is a Hugging Face hub id, a local dataset folder in the hub's layout (parquet files plus a
README with `configs`), or an image folder with one sub-folder per class (optionally below `train/`
and `test/`). Each split is decoded into an N x 1 x H x W uint8 array; core.data.cache keeps it on disk.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import DataSourceError, ImageLoadError
from .images import open_image, prepare_image

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class DatasetSpec:
    """What a task's data looks like and where it comes from by default."""

    hub_id: str | None  # default source for users who are online; None: the user must name one
    env_var: str
    classes: tuple[str, ...]
    image_size: int  # decoded (cached) size; models may resize at batch time
    aliases: dict[str, str]  # other spellings of class names (folder names) -> class name
    bundled: Path | None = None  # small sample shipped in the repo, source name "bundled"
    splits: tuple[str, ...] = ("train", "test")
    validation_fraction: float = 0.1  # carved from train when a source has no validation split
    how_to_get: str = ""  # one sentence for the error when no source is set
    annotator_votes: bool = False  # a local source may keep FER+ votes beside its data (core.data.ferplus)

    def class_index(self, name: str) -> int:
        key = name.strip().lower()
        lookup = {c.lower(): i for i, c in enumerate(self.classes)}
        lookup.update({a.lower(): self.classes.index(c) for a, c in self.aliases.items()})
        if key not in lookup:
            raise DataSourceError(f"class folder {name!r} is not one of {', '.join(self.classes)}")
        return lookup[key]


@dataclass
class ImageSplit:
    images: torch.Tensor  # N x 1 x H x W, uint8
    labels: torch.Tensor  # N, int64
    classes: tuple[str, ...]
    source: str
    split: str
    origin: str = ""  # how this split was made from the source, said with every result
    votes: torch.Tensor | None = None  # N x 10 FER+ annotator votes, where the source has them (core.data.ferplus)
    targets: torch.Tensor | None = None  # N x classes soft labels to train on instead of `labels` (FER+ votes)

    def __len__(self) -> int:
        return len(self.labels)

    def head(self, n: int | None) -> ImageSplit:
        """The first n images (the shared data is shuffled within each split, so a prefix mixes classes)."""
        if n is None or n >= len(self):
            return self
        return self.select(slice(0, n), f"first {n} of {self.origin}")

    def select(self, index: slice | torch.Tensor, origin: str) -> ImageSplit:
        """The images at `index` (a slice or a tensor of positions), with their labels, votes and targets."""

        def pick(values: torch.Tensor | None) -> torch.Tensor | None:
            return None if values is None else values[index]

        return ImageSplit(self.images[index], self.labels[index], self.classes, self.source, self.split, origin,
                          pick(self.votes), pick(self.targets))  # fmt: skip


def resolve_source(spec: DatasetSpec, source: str | None) -> str:
    """The explicit source, else the task's environment variable, else the hub id."""
    source = (source or os.environ.get(spec.env_var) or spec.hub_id or "").strip()
    if not source:
        raise DataSourceError(f"No data source is set: pass --data or set {spec.env_var}. {spec.how_to_get}".strip())
    if source == "bundled":
        if spec.bundled is None:
            raise DataSourceError("this task ships no bundled sample")
        return str(spec.bundled)
    return source


def is_hub_id(source: str) -> bool:
    """Whether a source names a Hugging Face hub dataset (owner/name) rather than a folder."""
    return not source.startswith(("/", ".", "~")) and source.count("/") == 1


def is_local(source: str) -> bool:
    return Path(source).expanduser().exists()


def _hub_reachable(timeout: float = 3.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("HF_DATASETS_OFFLINE") == "1":
        return True  # let `datasets` try its own offline cache
    try:
        socket.create_connection(("huggingface.co", 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _load_hf_split(spec: DatasetSpec, source: str, split: str):
    """The `datasets` split for a source, carving a seeded stratified test split when there is none."""
    import datasets

    datasets.disable_progress_bars()
    if is_local(source):
        path = str(Path(source).expanduser())
    elif not is_hub_id(source):
        raise DataSourceError(f"'{source}' is neither an existing folder nor a hub id (owner/name)")
    else:
        if not _hub_reachable():
            raise DataSourceError(
                f"Could not reach the Hugging Face hub to download '{source}'; set {spec.env_var} "
                "to a local copy (a dataset folder or an image folder with one sub-folder per class)."
            )
        path = source
    try:
        dsd = datasets.load_dataset(path)
    except DataSourceError:
        raise
    except Exception as exc:  # datasets raises many types; the user needs one sentence
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataSourceError(f"Could not load the dataset from '{source}': {first}") from None
    for part in dsd.values():  # unknown class folders are an error before anything else happens
        label = part.features.get("label")
        for name in getattr(label, "names", []):
            spec.class_index(name)
    return _derive_split(spec, dsd, split, source)


USAGE_PREFIXES = {"validation": "PublicTest_", "test": "PrivateTest_"}  # FER-2013's Kaggle file names


def _file_names(ds) -> list[str]:
    import datasets

    paths = ds.cast_column("image", datasets.Image(decode=False))["image"]
    return [Path(p.get("path") or "").name for p in paths]


def _derive_split(spec: DatasetSpec, dsd, split: str, source: str):
    """The requested split, deriving missing ones the way the task's protocol says.

    - a split the source has is used as is (but see the Kaggle FER layout below);
    - an image folder with only train: a seeded, stratified 20 % becomes test;
    - train + test without validation (Kaggle FER layout): when file names carry FER-2013's usage
      (PublicTest_*, PrivateTest_*), validation = PublicTest and test = PrivateTest (the standard protocol);
      otherwise a seeded, stratified share of train becomes validation.
    """
    have = list(dsd)

    def carve(ds, fraction, part):
        try:
            share = fraction if part == "test" else 1 - fraction
            return (
                ds.train_test_split(test_size=fraction, stratify_by_column="label", seed=0)[part],
                f"{share:.0%} of the source's train split (stratified, seed 0)",
            )
        except ValueError as exc:
            raise DataSourceError(f"'{source}' has too few images to hold out a stratified split ({exc})") from None

    if split not in spec.splits:
        raise DataSourceError(f"this task has no split '{split}' (it has: {', '.join(spec.splits)})")
    if have == ["train"] and "test" in spec.splits and split in ("train", "test"):
        return carve(dsd["train"], 0.2, split)
    if "validation" in spec.splits and "validation" not in dsd and {"train", "test"} <= set(have):
        names = _file_names(dsd["test"])
        if any(n.startswith(USAGE_PREFIXES["validation"]) for n in names):
            if split == "train":
                return dsd["train"], "train/ (FER-2013 Training)"
            keep = [i for i, n in enumerate(names) if n.startswith(USAGE_PREFIXES[split])]
            return dsd["test"].select(keep), f"test/{USAGE_PREFIXES[split]}* (FER-2013 {USAGE_PREFIXES[split][:-1]})"
        if split == "test":
            return dsd["test"], "the source's test split"
        return carve(dsd["train"], spec.validation_fraction, "test" if split == "validation" else "train")
    if split in dsd:
        return dsd[split], f"the source's {split} split"
    raise DataSourceError(f"'{source}' has no split '{split}' (it has: {', '.join(have)})")


def read_split(spec: DatasetSpec, source: str, split: str) -> tuple[np.ndarray, np.ndarray, str]:
    """Decode one split of a resolved source: images (N x 1 x H x W uint8), labels and how the split was made."""
    ds, origin = _load_hf_split(spec, source, split)
    images, labels = _decode(spec, ds, source)
    return images, labels, origin


def _decode(spec: DatasetSpec, ds, source: str) -> tuple[np.ndarray, np.ndarray]:
    import datasets

    names = ds.features["label"].names if isinstance(ds.features["label"], datasets.ClassLabel) else None
    label_map = [spec.class_index(n) for n in names] if names else None
    ds = ds.cast_column("image", datasets.Image(decode=False))
    size = spec.image_size
    images = np.empty((len(ds), 1, size, size), dtype=np.uint8)
    labels = np.empty(len(ds), dtype=np.int64)
    for i, row in enumerate(ds):
        blob = row["image"]
        where = blob.get("path") or f"image {i} of the split"
        try:
            data = blob.get("bytes") or Path(blob["path"]).read_bytes()
            images[i, 0] = prepare_image(open_image(data, name=where), size, invert="never")
        except (ImageLoadError, OSError) as exc:
            raise DataSourceError(f"{source}: {exc if isinstance(exc, ImageLoadError) else f'{where}: {exc}'}; "
                                  "remove or replace that file") from None  # fmt: skip
        labels[i] = label_map[row["label"]] if label_map else row["label"]
    return images, labels


def unseen_mask(test: ImageSplit, train: ImageSplit) -> torch.Tensor:
    """True for test images whose exact pixels do not occur anywhere in train."""
    import torch  # here, so reading a source's description does not load torch

    seen = {bytes(row) for row in train.images.reshape(len(train), -1).numpy()}
    return torch.tensor([bytes(row) not in seen for row in test.images.reshape(len(test), -1).numpy()])
