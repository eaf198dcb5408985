"""`python -m core card RUN`: a run's model card (a Hugging Face Hub README by default)."""

from __future__ import annotations

import argparse
from typing import Any


def cmd_card(args: argparse.Namespace) -> int:
    from ..runs.record import read_record
    from ..study.model_card import hub_card, model_card

    record = read_record(args.checkpoint)
    print(model_card(record) if args.plain else hub_card(record), end="")
    return 0


def register(sub: Any) -> None:
    card = sub.add_parser("card", help="a run's model card as a Hugging Face Hub README (YAML block, then Markdown)")
    card.add_argument("checkpoint", help="a run folder (with meta.json)")
    card.add_argument("--plain", action="store_true",
                      help="the Markdown card alone, without the YAML block the Hugging Face Hub reads")  # fmt: skip
    card.set_defaults(func=cmd_card)
