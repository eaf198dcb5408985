"""FER+ (Barsoum et al., 2016): ten annotators' votes for every FER-2013 face, as labels and as a yardstick.

A FER source may keep `ferplus.csv` beside its data: one row per image of each split (columns `split`, `index`,
the eight emotions, `unknown`, `NF`; rows without votes are empty), in the split's own row order. `manifest.csv`
beside it, when present, holds each image's pixel MD5 and is checked against the decoded images, so a votes file
that belongs to other rows is refused rather than trusted.

What the votes mean here (the 7 classes of FER-2013):
- *the vote distribution* is the share of each of the 7 emotions among the votes for those 7; votes for
  `contempt` (not one of the 7), `unknown` and `NF` (not a face) are left out;
- *the plurality* is the emotion with the most votes, when it has more votes than `contempt`, `unknown` and `NF`
  each; otherwise the face has no plurality among the 7 (FER+'s own scripts drop faces whose plurality is
  unknown or not-a-face). Two or more emotions can share the top count: a *tie*;
- faces *kept* for FER+ labels are those with a plurality (ties included): `ferplus-votes` trains on their vote
  distribution, `ferplus-majority` on the plurality of the untied ones (a tie has no single label).
"""

from __future__ import annotations

import csv
import hashlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import DataSourceError

if TYPE_CHECKING:
    from .sources import ImageSplit

log = logging.getLogger(__name__)

VOTES_FILE = "ferplus.csv"
MANIFEST_FILE = "manifest.csv"
# FER+'s column for each of FER-2013's 7 classes, in the class order (core.data.fer.EMOTIONS), then the rest.
EMOTION_COLUMNS = ("anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise")
OTHER_COLUMNS = ("contempt", "unknown", "NF")
COLUMNS = EMOTION_COLUMNS + OTHER_COLUMNS
N_EMOTIONS = len(EMOTION_COLUMNS)


def votes_path(source: str) -> Path:
    return Path(source).expanduser() / VOTES_FILE


def has_votes_file(source: str) -> bool:
    return votes_path(source).is_file()


def read_votes(source: str, split: ImageSplit) -> np.ndarray:
    """The votes for every image of `split` (N x 10 counts in COLUMNS order; a row of zeros where FER+ has none),
    read from the source's ferplus.csv and checked against the split. Raises DataSourceError in one line."""
    path = votes_path(source)
    if not path.is_file():
        raise DataSourceError(
            f"{source} has no {VOTES_FILE} beside its data: FER+ labels need the ten annotators' votes "
            "(see ../shared/data/fer/README.md), or use --labels fer2013"
        )
    rows = _read_rows(path, split.split)
    if len(rows) != len(split):
        raise DataSourceError(
            f"{path}: {len(rows):,} rows for the {split.split} split, which has {len(split):,} images; "
            "the votes file does not belong to this data"
        )
    votes = np.zeros((len(rows), len(COLUMNS)), dtype=np.float32)
    for i, (index, counts) in enumerate(rows):
        if index != i:
            raise DataSourceError(f"{path}: the {split.split} rows are not in order (row {i} has index {index})")
        if counts is not None:
            votes[i] = counts
    _check_manifest(Path(source).expanduser(), split)
    return votes


def _read_rows(path: Path, split: str) -> list[tuple[int, list[float] | None]]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in ("split", "index", *COLUMNS) if c not in (reader.fieldnames or [])]
            if missing:
                raise DataSourceError(f"{path}: not a FER+ votes file (no column {missing[0]!r})")
            rows = []
            for line, row in enumerate(reader, start=2):
                if row["split"] != split:
                    continue
                rows.append((_whole(row["index"], path, line, "index"), _counts(row, path, line)))
            return rows
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataSourceError(f"{path} cannot be read ({type(exc).__name__}: {exc})") from None


def _whole(text: str | None, path: Path, line: int, column: str) -> int:
    try:
        value = int(text or "")
    except ValueError:
        raise DataSourceError(f"{path}, line {line}: {column} {text!r} is not a whole number") from None
    if value < 0:
        raise DataSourceError(f"{path}, line {line}: {column} {value} is negative")
    return value


def _counts(row: dict[str, Any], path: Path, line: int) -> list[float] | None:
    """The ten counts of a row, or None for a face FER+ left out (every vote cell empty)."""
    cells = [row.get(c) for c in COLUMNS]
    if all(c is None or c.strip() == "" for c in cells):
        return None
    if any(c is None or c.strip() == "" for c in cells):
        raise DataSourceError(f"{path}, line {line}: some vote cells are empty (a truncated file?)")
    counts = [float(_whole(c, path, line, name)) for c, name in zip(cells, COLUMNS)]
    if not 1 <= sum(counts) <= 100:
        raise DataSourceError(f"{path}, line {line}: the votes add up to {sum(counts):g}, not a few annotators' worth")
    return counts


def _check_manifest(root: Path, split: ImageSplit) -> None:
    """Where the source has a manifest with each image's pixel MD5, the split's images must be those rows."""
    manifest = root / MANIFEST_FILE
    if not manifest.is_file():
        return
    try:
        with manifest.open(newline="", encoding="utf-8") as handle:
            digests = [row.get("pixel_md5") for row in csv.DictReader(handle) if row.get("split") == split.split]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataSourceError(f"{manifest} cannot be read ({type(exc).__name__})") from None
    if not digests or None in digests:
        return  # a manifest without pixel digests says nothing about the rows
    pixels = split.images.numpy()
    if len(digests) != len(pixels):
        raise DataSourceError(f"{manifest}: {len(digests):,} {split.split} rows for {len(pixels):,} images")
    for i, (digest, image) in enumerate(zip(digests, pixels)):
        if hashlib.md5(np.ascontiguousarray(image[0]).tobytes()).hexdigest() != digest:
            raise DataSourceError(
                f"{manifest}: {split.split} image {i} is not the one the manifest names; the votes beside it "
                "belong to other rows"
            )


def attach_votes(source: str, split: ImageSplit) -> ImageSplit:
    """The split with its votes, where the source has a sound votes file; otherwise as it is (a warning for a
    damaged file: votes are an extra here, and a run on FER-2013's labels does not need them)."""
    if not has_votes_file(source):
        return split
    try:
        votes = read_votes(source, split)
    except DataSourceError as exc:
        log.warning("FER+ votes left out: %s", exc)
        return split
    import torch

    split.votes = torch.from_numpy(votes)
    return split


def require_votes(splits: dict[str, ImageSplit]) -> None:
    """Every split with its votes (trained on, selected on, reported), or the one line that says why not."""
    import torch

    for split in splits.values():
        if split.votes is None:
            split.votes = torch.from_numpy(read_votes(split.source, split))


def emotion_votes(votes: np.ndarray) -> np.ndarray:
    return votes[:, :N_EMOTIONS]


def plurality(votes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per face: which of the 7 emotions hold the top count (N x 7 booleans, all False where the face has no
    plurality among the 7), and whether the face has one."""
    emotions = emotion_votes(votes)
    top = emotions.max(1)
    has = (top > votes[:, N_EMOTIONS:].max(1)) & (top > 0)
    winners = (emotions == top[:, None]) & has[:, None]
    return winners, has


def distribution(votes: np.ndarray) -> np.ndarray:
    """The share of each of the 7 emotions among the votes for them (a row of zeros where there are none)."""
    emotions = emotion_votes(votes)
    total = emotions.sum(1, keepdims=True)
    return np.divide(emotions, total, out=np.zeros_like(emotions), where=total > 0)


def relabel(split: ImageSplit, labels: str) -> ImageSplit:
    """The split as `labels` asks: `ferplus-votes` keeps the faces with a plurality among the 7 emotions, their
    label the plurality (the first of a tie) and their target the vote distribution; `ferplus-majority` keeps the
    faces with one untied plurality, labelled with it. Raises when the split has no votes."""
    import torch

    if labels == "fer2013":
        return split
    require_votes({split.split: split})
    assert split.votes is not None
    votes = split.votes.numpy()
    winners, has = plurality(votes)
    keep = has if labels == "ferplus-votes" else has & (winners.sum(1) == 1)
    index = torch.from_numpy(np.flatnonzero(keep))
    out = split.select(index, f"{split.origin}; FER+ {labels.split('-')[1]}: {len(index):,} of {len(split):,} faces")
    out.labels = torch.from_numpy(winners[keep].argmax(1).astype(np.int64))
    if labels == "ferplus-votes":
        out.targets = torch.from_numpy(distribution(votes[keep]))
    return out
