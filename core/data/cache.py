"""Each split decoded once into an N x 1 x H x W uint8 array and kept on disk, keyed by source, split and size,
so later runs start in well under a second. A damaged cache file is deleted and rebuilt, never trusted."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import torch

from ..errors import ConfigError
from .ferplus import attach_votes
from .sources import DatasetSpec, ImageSplit, is_local, read_split, resolve_source

log = logging.getLogger(__name__)

CACHE_VERSION = 2
CACHE_ENV_VAR = "STUDY_CACHE_DIR"


def cache_dir() -> Path:
    root = os.environ.get(CACHE_ENV_VAR) or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "dl-study"
    return Path(root)


def _fingerprint(source: str) -> str:
    """Identity of a source for the cache: hub id, or path plus the size and mtime of every file."""
    if not is_local(source):
        return f"hub:{source}"
    root = Path(source).expanduser().resolve()
    files = sorted(p for p in root.rglob("*") if p.is_file() and ".cache" not in p.parts)
    parts = [str(root)] + [f"{p.relative_to(root)}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files]
    return "\n".join(parts)


def make_cache_folder(folder: Path) -> None:
    """Make (or find) a cache folder this process can write, or say in one line why it cannot be: $STUDY_CACHE_DIR
    naming a file, or a place that cannot be written. Called before any work whose result it would keep."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not os.access(folder, os.W_OK | os.X_OK):
            raise PermissionError(13, "not writable")
    except OSError as exc:
        raise _cache_folder_error(folder, exc) from None


def _cache_folder_error(folder: Path, exc: OSError) -> ConfigError:
    blocker = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None)
    reason = f"{blocker} is a file, not a folder" if blocker else (exc.strerror or type(exc).__name__)
    return ConfigError(
        f"the cache folder {folder} cannot be created or written ({reason}); set {CACHE_ENV_VAR} to a writable folder"
    )


def cache_path(source: str, split: str, size: int) -> Path:
    key = hashlib.sha1(f"v{CACHE_VERSION}\n{size}\n{_fingerprint(source)}".encode()).hexdigest()[:20]
    return cache_dir() / f"{key}-{split}-{size}px.npz"


def _read_cached(path: Path, size: int, num_classes: int) -> tuple[np.ndarray, np.ndarray, str] | None:
    """The cached arrays, or None (and the file deleted) when it is damaged. Every member of the .npz is read
    in full, so zip's CRC-32 checks each byte; shapes and labels (whole class indices) are checked too."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            images, labels, origin = npz["images"], npz["labels"], str(npz["origin"])
        ok = (
            images.dtype == np.uint8
            and images.ndim == 4
            and images.shape[1:] == (1, size, size)
            and labels.shape == (len(images),)
            and labels.dtype == np.int64
            and (len(labels) == 0 or (int(labels.min()) >= 0 and int(labels.max()) < num_classes))
        )
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        ok, reason = False, f"{type(exc).__name__}"
    else:
        reason = "unexpected shapes or labels"
    if ok:
        return images, labels, origin
    log.warning("the data cache file %s was damaged (%s); deleted, decoding the split again", path.name, reason)
    with contextlib.suppress(OSError):  # a folder that cannot be written is said when the split is written again
        path.unlink(missing_ok=True)
    return None


def _write_cached(path: Path, images: np.ndarray, labels: np.ndarray, origin: str) -> None:
    """Written beside and renamed into place: a reader finds the whole file or none (a failed write leaves none)."""
    name = None
    try:
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".npz", delete=False) as tmp:
            name = tmp.name
            np.savez(tmp, images=images, labels=labels, origin=np.array(origin))
        os.replace(name, path)
    except OSError as exc:
        if name is not None:
            with contextlib.suppress(OSError):
                os.unlink(name)
        raise _cache_folder_error(path.parent, exc) from None


def load_split(spec: DatasetSpec, source: str | None, split: str) -> ImageSplit:
    """One split as uint8 tensors, from the disk cache when it is there (and sound)."""
    source = resolve_source(spec, source)
    path = cache_path(source, split, spec.image_size)
    if path.is_dir():  # not the cache's own file: left as it is, and said
        raise ConfigError(
            f"the data cache entry {path} is a folder, not a cache file; remove it or set {CACHE_ENV_VAR} to another "
            "folder"
        )
    cached = _read_cached(path, spec.image_size, len(spec.classes)) if path.exists() else None
    if cached is None:
        make_cache_folder(path.parent)  # before decoding: a cache that cannot be written is said at once
        cached = read_split(spec, source, split)
        _write_cached(path, *cached)
    images, labels, origin = cached
    loaded = ImageSplit(torch.from_numpy(images), torch.from_numpy(labels), spec.classes, source, split, origin)
    return attach_votes(source, loaded) if spec.annotator_votes and is_local(source) else loaded
