"""`python -m core framed-faces`: a FER source whose training faces also come as the webcam frames them."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..data.tasks import get_task
from ..errors import ConfigError


def cmd_framed_faces(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..data.cache import load_split
    from ..study.in_frames import write_framed_source

    if args.limit is not None and args.limit < 1:  # head(0) or head(-5) would frame (almost) every face
        raise ConfigError(f"--limit {args.limit}: must be at least 1 face (leave it out for all)")
    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out} is not empty; give a new folder for the framed data source")
    spec = get_task("fer").spec
    splits = {name: load_split(spec, args.data, name) for name in ("train", "validation", "test")}
    if args.limit is not None:
        splits = {name: split.head(args.limit) for name, split in splits.items()}
    with tqdm(total=len(splits["train"]), desc="framing the training faces", unit="face", leave=False) as bar:
        summary = write_framed_source(splits, out, args.seed, lambda done, _: bar.update(done - bar.n))
    print(f"wrote {out}: {summary['framed']:,} framed training faces beside the originals "
          f"({summary['missed']:,} not found by the cascade); train on it with --data {out}")  # fmt: skip
    return 0


def register(sub: Any) -> None:
    fr = sub.add_parser(
        "framed-faces", help="a FER data source whose training faces also come as the webcam frames them"
    )
    fr.add_argument("--data", help="the FER-2013 source to read (default: $FER_DATA)")
    fr.add_argument("--out", required=True, help="a new folder for the data source (parquet)")
    fr.add_argument("--seed", type=int, default=0, help="where and how large each face is pasted (default 0)")
    fr.add_argument("--limit", type=int, help="only the first N faces of each split (quick checks)")
    fr.set_defaults(func=cmd_framed_faces)
