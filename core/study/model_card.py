"""A model card for any run, made from its meta.json alone: what it was trained on and how, how well it does
(with intervals), and what it should not be trusted with. `python -m core card RUN`, the app's model pickers and
the model download all use this one function."""

from __future__ import annotations

from typing import Any

from ..runs.record import RunRecord, SplitMetrics, agreement_cell
from .report import portable, took, training_command

RARE_SHARE = 0.05  # a class under this share of the evaluated images is called out as rare
WEAK_RECALL = 0.5

LIMITS = {
    "notmnist": [
        "Knows only the ten letters A-J, as glyphs of computer fonts (notMNIST): handwriting, other letters, digits "
        "and photos get an answer anyway, often a confident one.",
        "Inputs are 28 x 28 grayscale, a bright letter on a dark ground, cropped to the letter; the app and "
        "`predict` prepare any image that way, but a busy background still confuses it.",
        "notMNIST repeats images across its splits: the 'unseen' figure is the honest one.",
    ],
    "fer": [
        "Trained on FER-2013: 48 x 48 grayscale faces from web images, mostly frontal; its own labels are noisy "
        "(they equal the plurality of ten FER+ annotators for about 65 % of faces). Posed lab photos, profile "
        "views, children and low light differ.",
        "An expression is not a feeling: the model reads faces, not what a person experiences. Do not use it to "
        "decide anything about a person.",
        "Emotion labels are culture-bound and the data set's demographics are unknown; accuracy may differ "
        "between groups of people and nothing here measures that.",
    ],
}


LABEL_NAMES = {
    "fer2013": "FER-2013's labels (one per face)",
    "ferplus-majority": "the FER+ annotators' plurality (one label per face)",
    "ferplus-votes": "the FER+ annotators' vote distribution (ten people per face)",
}


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


def _with_interval(m: SplitMetrics) -> str:
    ci = f" [{m.ci_low * 100:.1f}, {m.ci_high * 100:.1f}]" if m.ci_low is not None and m.ci_high is not None else ""
    return f"{_pct(m.accuracy)}{ci}"


def class_notes(m: SplitMetrics) -> list[str]:
    """Rare classes and classes the model often misses, from the evaluated split's own counts."""
    total = sum(c.support for c in m.per_class.values()) or 1
    notes = [
        f"*{name}* is {c.support / total:.1%} of the {m.split or 'evaluated'} images ({c.support:,}): "
        f"its figures are uncertain and the model sees it rarely in training too."
        for name, c in m.per_class.items()
        if c.support / total < RARE_SHARE
    ]
    weak = sorted((c.recall, name) for name, c in m.per_class.items() if c.recall < WEAK_RECALL)
    if weak:
        listed = ", ".join(f"*{name}* {recall:.0%}" for recall, name in weak)
        notes.append(f"Recall under {WEAK_RECALL:.0%} (share of each class it finds): {listed}.")
    return notes


def _seen(crop: float, side: int = 48) -> str:
    """What of a face the model sees, when it is not the whole face (`--eval-crop`)."""
    if crop >= 1:
        return ""
    from ..data.transforms import crop_margin

    return f" (the centre {side - 2 * crop_margin(side, crop)} of each {side} px side, `--eval-crop {crop:g}`)"


def model_card(record: RunRecord) -> str:
    """The card as Markdown."""
    c = record.config
    task = {"notmnist": "notMNIST letters A-J", "fer": "facial emotions (FER-2013, 7 classes)"}[c.task]
    lines = [f"# Model card: {record.name}", "", f"**Task:** {task}. **Network:** {c.arch}, "
             f"{record.num_parameters:,} parameters ({record.trainable_parameters:,} trained)."]  # fmt: skip
    if c.task == "notmnist":
        pixels = f"a fixed pixel permutation (seed {c.permutation_seed})" if c.permute else "original pixels"
        lines.append(f"**Input:** 28 x 28 grayscale letters, {pixels}.")
    else:
        start = "ImageNet weights" if (c.pretrained or c.weights) else "random weights (from scratch)"
        start = f"the trained weights of `{c.init_from}` (a fine-tune)" if c.init_from else start
        frozen = f", frozen up to {c.freeze}" if c.freeze != "none" else ""
        lines.append(f"**Input:** grayscale faces{_seen(c.eval_crop)} resized to {c.image_size} px; started from "
                     f"{start}{frozen}.")  # fmt: skip
    sizes = ", ".join(f"{name} {n:,}" for name, n in record.data.sizes.items())
    lines += ["", "## Data", f"Source `{portable(record.data.source)}`; images per split: {sizes}."]
    for split, origin in record.data.splits.items():
        lines.append(f"- {split}: {origin}")
    lines += [
        "",
        "## Training",
        f"`{training_command(record)}`",
        "",
    ]
    when = f", {record.created[:10]}" if record.created else ""
    mode = record.runtime or {}
    mode_text = f", {mode.get('precision')}/{mode.get('memory_format')}" if mode else ""
    chosen = (
        f"the best epoch by validation accuracy ({record.best_epoch})"
        if record.selected_on == "validation"
        else "the last epoch"
    )
    lines.append(
        f"{len(record.history)} epochs, keeping {chosen}; {took(record.training_seconds)} on "
        f"{record.device or '?'}{mode_text}{when}; torch {record.torch_version or '?'}, "
        f"commit {(record.git_commit or '?')[:10]}."
    )
    lines += ["", "## Results", "| split | n | accuracy [95 % CI] | unseen in train | macro-F1 |"]
    lines.append("| --- | --- | --- | --- | --- |")
    for split, m in record.metrics.items():
        lines.append(f"| {split} | {m.n:,} | {_with_interval(m)} | {m.unseen_text()} | {_pct(m.macro_f1)} |")
    if c.task == "fer":
        lines += ["", f"Trained on **{LABEL_NAMES[c.labels]}**. Accuracy above is against FER-2013's own labels; "
                  "against the ten FER+ annotators who relabelled every face:", "",
                  "| split | FER+ majority [95 % CI] of n | annotator agreement | vote NLL |",
                  "| --- | --- | --- | --- |"]  # fmt: skip
        for split, m in record.metrics.items():
            nll = (m.ferplus or {}).get("vote_nll")
            lines.append(f"| {split} | {m.consensus_text()} | {agreement_cell(m.ferplus)} | "
                         f"{'—' if nll is None else f'{nll:.3f}'} |")  # fmt: skip
    held_out = record.test or next(iter(record.metrics.values()), None)
    lines += ["", "## Known limits"]
    lines += [f"- {note}" for note in (class_notes(held_out) if held_out else [])]
    lines += [f"- {limit}" for limit in LIMITS[c.task]]
    return "\n".join(lines) + "\n"


# The Hub's metadata for each task: the data set as the Hub names it (FER-2013 has no one canonical Hub copy: a
# name only), and the tags a search on the Hub would use.
HUB_DATASETS = {"notmnist": ("anubhavmaity/notMNIST", "notMNIST"), "fer": ("fer2013", "FER-2013")}
HUB_TAGS = {"notmnist": ["notmnist", "letters"], "fer": ["facial-expression-recognition", "emotion-recognition"]}


def hub_card(record: RunRecord) -> str:
    """The card as a Hugging Face Hub README: the YAML block the Hub reads (license, datasets, tags, library,
    pipeline tag, and a model-index with the held-out metrics and their split), written with huggingface_hub's
    own card classes, then the card above. The license is "other": the weights inherit the data sets' terms
    (notMNIST's and FER-2013's are not open licenses; the FER+ votes are MIT)."""
    from huggingface_hub import EvalResult, ModelCardData

    c = record.config
    dataset_type, dataset_name = HUB_DATASETS[c.task]
    if c.task == "fer" and c.labels != "fer2013":
        dataset_name += " with FER+ votes"

    def result(split: str, value: float, name: str, kind: str = "accuracy", **extra: Any) -> EvalResult:
        return EvalResult(task_type="image-classification", task_name="Image Classification",
                          dataset_type=dataset_type, dataset_name=dataset_name, dataset_split=split,
                          metric_type=kind, metric_value=value, metric_name=f"{split} {name}", **extra)  # fmt: skip

    results = []
    for split, m in record.metrics.items():
        results.append(result(split, m.accuracy, "accuracy"))
        if m.macro_f1 is not None:
            results.append(result(split, m.macro_f1, "macro-F1", "f1", metric_args={"average": "macro"}))
        majority = (m.ferplus or {}).get("majority_accuracy")
        if majority is not None:
            results.append(result(split, majority, "FER+ majority accuracy", metric_config="ferplus-majority"))
    data = ModelCardData(
        license="other",
        license_name="data-set-terms",
        datasets=[dataset_type] if "/" in dataset_type else None,
        tags=["image-classification", "pytorch", "safetensors", c.arch, *HUB_TAGS[c.task]],
        library_name="pytorch",
        pipeline_tag="image-classification",
        model_name=record.name,
        eval_results=results,
    )
    return f"---\n{data.to_yaml()}\n---\n\n{model_card(record)}"
