"""The run record: a finished run's meta.json as one typed, validated object.

Everything that reads a run (pages, CLI, sweep, report, webcam) uses `RunRecord` attributes, never the raw
JSON. Reading checks every field's type and range, so a malformed meta.json is a `CheckpointError` that names
the file and the field, never an AttributeError three calls later.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..config import Experiment
from ..data.sources import is_hub_id
from ..errors import CheckpointError, ConfigError
from .files import META_FILE

FORMAT = "dl-study-checkpoint"
FORMAT_VERSION = 1
MAX_IMAGE_SIDE = 1024  # decoded and input sizes above this are refused before anything is allocated


@dataclass(frozen=True)
class ClassMetrics:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class Unseen:
    """Accuracy on the evaluated images whose exact pixels do not occur in train (the 95 % interval is missing
    from runs recorded before it was computed)."""

    n: int
    accuracy: float | None
    ci_low: float | None = None
    ci_high: float | None = None

    def describe(self) -> str:
        """'67.5 % [65.9, 69.0] of 3,301' (the interval where it was computed)."""
        if self.accuracy is None:
            return f"none of {self.n:,}"
        ci = f" [{self.ci_low * 100:.1f}, {self.ci_high * 100:.1f}]" if self.ci_low is not None and self.ci_high else ""
        return f"{self.accuracy * 100:.1f} %{ci} of {self.n:,}"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"n": self.n, "accuracy": self.accuracy}
        if self.ci_low is not None:
            out.update(ci_low=self.ci_low, ci_high=self.ci_high)
        return out


@dataclass(frozen=True)
class SplitMetrics:
    n: int
    accuracy: float
    macro_f1: float
    per_class: dict[str, ClassMetrics]
    confusion_matrix: list[list[int]]
    classes: list[str]
    loss: float | None = None
    split: str | None = None
    split_origin: str | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    unseen: Unseen | None = None
    # agreement with the ten FER+ annotators (core.data.ferplus.consensus_metrics), where the data has votes
    ferplus: dict[str, Any] | None = None

    def unseen_text(self) -> str:
        """The unseen-in-train figure for display, or why there is none (a run recorded before it existed whose
        weights do not ship cannot be evaluated again)."""
        return self.unseen.describe() if self.unseen else "not recomputed"

    def consensus_text(self) -> str:
        """The FER+ majority accuracy for display ('84.1 % [82.9, 85.3] of 3,491'), or why there is none."""
        return consensus_cell(self.ferplus)

    def f1_by_class(self) -> dict[str, float]:
        return {name: m.f1 for name, m in self.per_class.items()}


@dataclass(frozen=True)
class DataInfo:
    source: str  # as the training machine named it (provenance)
    sizes: dict[str, int]  # split -> number of images
    splits: dict[str, str]  # split -> how it was made from the source
    reference: str | None = None  # portable: the folder below a data root, a folder's name or the hub id

    @property
    def portable(self) -> str | None:
        """The portable reference (records written before it existed: the source folder's name)."""
        if self.reference is not None or not self.source:
            return self.reference
        return self.source if is_hub_id(self.source) or self.source == "bundled" else Path(self.source).name

    def to_dict(self) -> dict[str, Any]:
        out = {"source": self.source, **{f"{k}_size": v for k, v in self.sizes.items()}, "splits": self.splits}
        return out if self.reference is None else {**out, "reference": self.reference}


@dataclass
class RunRecord:
    config: Experiment
    classes: list[str]
    preprocessing: dict[str, Any]
    data: DataInfo
    history: list[dict[str, Any]]
    metrics: dict[str, SplitMetrics]
    best_epoch: int | None = None
    selected_on: str = "last epoch"
    num_parameters: int = 0
    trainable_parameters: int = 0
    training_seconds: float = 0.0
    seconds_this_session: float | None = None
    device: str | None = None
    torch_version: str | None = None
    git_commit: str | None = None
    created: str = ""
    complete: bool = True
    weights_sha256: str | None = None  # digest of the weights file written with this record (runs since v2)
    world_size: int = 1  # processes that trained it (torchrun); 1 for a plain run
    global_batch: int | None = None  # images per optimiser step over all processes
    runtime: dict[str, Any] | None = None  # precision and memory layout trained in, and why (core.inference.modes)
    calibration: dict[str, Any] | None = None  # fitted after training (core.inference.calibration), with its report
    explanations: dict[str, Any] | None = None  # measured after training (`core explain --record`): figures of maps
    # measured after training (`core evaluate --tta M --record-tta`): split -> method -> accuracy, interval, F1
    test_time_augmentation: dict[str, Any] | None = None
    soup: dict[str, Any] | None = None  # a weight soup's members and how they were chosen (core.engine.soup)
    extra: dict[str, Any] = field(default_factory=dict)  # fields this version does not know, kept on rewrite
    path: Path | None = field(default=None, compare=False)  # the run folder it was read from

    @property
    def name(self) -> str:
        return self.config.name if self.soup is None else f"{self.config.name}-soup"

    @property
    def task(self) -> str:
        return self.config.task

    @property
    def test(self) -> SplitMetrics | None:
        return self.metrics.get("test")

    @property
    def validation(self) -> SplitMetrics | None:
        return self.metrics.get("validation")

    @property
    def decoded_size(self) -> int:
        """The side images are decoded to before the model's own resizing (the dataset's cached size)."""
        return int(self.preprocessing.get("decoded_size", self.config.image_size))

    def to_dict(self) -> dict[str, Any]:
        body = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "config": self.config.to_dict(),
            "classes": list(self.classes),
            "preprocessing": self.preprocessing,
            "data": self.data.to_dict(),
            "history": self.history,
            "best_epoch": self.best_epoch,
            "selected_on": self.selected_on,
            "metrics": {name: _metrics_dict(m) for name, m in self.metrics.items()},
            "num_parameters": self.num_parameters,
            "trainable_parameters": self.trainable_parameters,
            "training_seconds": self.training_seconds,
            "seconds_this_session": self.seconds_this_session,
            "device": self.device,
            "torch_version": self.torch_version,
            "git_commit": self.git_commit,
            "created": self.created,
            "complete": self.complete,
        }
        if self.weights_sha256:
            body["weights_sha256"] = self.weights_sha256
        if self.global_batch is not None:
            body.update(world_size=self.world_size, global_batch=self.global_batch)
        if self.runtime is not None:
            body["runtime"] = self.runtime
        if self.calibration is not None:
            body["calibration"] = self.calibration
        if self.explanations is not None:
            body["explanations"] = self.explanations
        if self.test_time_augmentation is not None:
            body["test_time_augmentation"] = self.test_time_augmentation
        if self.soup is not None:
            body["soup"] = self.soup
        return {**body, **self.extra}


def _metrics_dict(m: SplitMetrics) -> dict[str, Any]:
    out = asdict(m)
    out.pop("unseen")
    if out["ferplus"] is None:  # records without votes stay as they were written
        out.pop("ferplus")
    if m.unseen is not None:
        out["unseen"] = m.unseen.to_dict()
    return out


class _Fields:
    """Typed access to one meta.json; every failure names the file and the field."""

    def __init__(self, file: Path):
        self.file = file

    def fail(self, name: str, why: str) -> CheckpointError:
        return CheckpointError(f"{self.file}: field '{name}' {why}")

    def obj(self, parent: Any, key: str, where: str, required: bool = True) -> dict[str, Any] | None:
        value = parent.get(key)
        if value is None and not required:
            return None
        if not isinstance(value, dict):
            raise self.fail(where, "is missing or not an object" if value is None else "is not an object")
        return value

    def seq(self, parent: dict, key: str, where: str) -> list[Any]:
        value = parent.get(key)
        if not isinstance(value, list):
            raise self.fail(where, "is missing or not a list")
        return value

    def whole(
        self, parent: dict, key: str, where: str, low: int = 0, high: float = math.inf, required: bool = True
    ) -> Any:
        value = parent.get(key)
        if value is None and not required:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            limit = f"between {low} and {high:g}" if high != math.inf else f"at least {low}"
            raise self.fail(where, f"must be a whole number {limit}, not {value!r}")
        return value

    def number(
        self, parent: dict, key: str, where: str, low: float = -math.inf, high: float = math.inf, required: bool = True
    ) -> Any:
        value = parent.get(key)
        if value is None and not required:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(where, f"must be a number, not {value!r}")
        if not math.isnan(value) and not low <= value <= high:  # NaN: a metric of an empty split
            raise self.fail(where, f"must be between {low:g} and {high:g}, not {value!r}")
        return float(value)

    def text(self, parent: dict, key: str, where: str, required: bool = False) -> Any:
        value = parent.get(key)
        if value is None and not required:
            return None
        if not isinstance(value, str):
            raise self.fail(where, f"must be text, not {value!r}")
        return value


def _split_metrics(f: _Fields, m: dict, where: str, n_classes: int) -> SplitMetrics:
    classes = f.seq(m, "classes", f"{where}.classes")
    per_class_raw = f.obj(m, "per_class", f"{where}.per_class") or {}
    per_class = {}
    for name, c in per_class_raw.items():
        w = f"{where}.per_class.{name}"
        if not isinstance(c, dict):
            raise f.fail(w, "is not an object")
        per_class[str(name)] = ClassMetrics(
            f.number(c, "precision", f"{w}.precision", 0, 1),
            f.number(c, "recall", f"{w}.recall", 0, 1),
            f.number(c, "f1", f"{w}.f1", 0, 1),
            f.whole(c, "support", f"{w}.support"),
        )
    if set(per_class) != set(classes):
        raise f.fail(f"{where}.per_class", "must have one entry per class")
    matrix = f.seq(m, "confusion_matrix", f"{where}.confusion_matrix")
    if len(matrix) != n_classes or not all(
        isinstance(r, list) and len(r) == n_classes and all(isinstance(v, int) and v >= 0 for v in r) for r in matrix
    ):
        raise f.fail(f"{where}.confusion_matrix", f"must be {n_classes} x {n_classes} counts")
    unseen_raw = f.obj(m, "unseen", f"{where}.unseen", required=False)
    unseen = (
        None
        if unseen_raw is None
        else Unseen(
            f.whole(unseen_raw, "n", f"{where}.unseen.n"),
            f.number(unseen_raw, "accuracy", f"{where}.unseen.accuracy", 0, 1, required=False),
            f.number(unseen_raw, "ci_low", f"{where}.unseen.ci_low", 0, 1, required=False),
            f.number(unseen_raw, "ci_high", f"{where}.unseen.ci_high", 0, 1, required=False),
        )
    )
    return SplitMetrics(
        n=f.whole(m, "n", f"{where}.n"),
        accuracy=f.number(m, "accuracy", f"{where}.accuracy", 0, 1),
        macro_f1=f.number(m, "macro_f1", f"{where}.macro_f1", 0, 1),
        per_class=per_class,
        confusion_matrix=matrix,
        classes=[str(c) for c in classes],
        loss=f.number(m, "loss", f"{where}.loss", 0, required=False),
        split=f.text(m, "split", f"{where}.split"),
        split_origin=f.text(m, "split_origin", f"{where}.split_origin"),
        ci_low=f.number(m, "ci_low", f"{where}.ci_low", 0, 1, required=False),
        ci_high=f.number(m, "ci_high", f"{where}.ci_high", 0, 1, required=False),
        unseen=unseen,
        ferplus=_consensus(f, m, where),
    )


def consensus_cell(block: dict[str, Any] | None) -> str:
    """A FER+ block's majority accuracy in a table cell ('84.1 % [82.9, 85.3] of 3,491'); 'not recomputed' for
    a split recorded before the votes were read (and whose weights may not ship)."""
    if not block or block.get("majority_accuracy") is None:
        return "not recomputed"
    return (f"{block['majority_accuracy'] * 100:.1f} % [{block['ci_low'] * 100:.1f}, {block['ci_high'] * 100:.1f}] "
            f"of {block['n']:,}")  # fmt: skip


def agreement_cell(block: dict[str, Any] | None) -> str:
    """The mean share of the ten annotators who chose the predicted emotion, for a table cell."""
    if not block or block.get("annotator_agreement") is None:
        return "not recomputed"
    return f"{block['annotator_agreement'] * 100:.1f} %"


def describe_consensus(block: dict[str, Any]) -> str:
    """A FER+ block in one line: 'majority 84.1 % [82.9, 85.3] of 3,491 faces (142 ties: either counts), ...'."""
    text = (
        f"majority {block['majority_accuracy'] * 100:.1f} % [{block['ci_low'] * 100:.1f}, "
        f"{block['ci_high'] * 100:.1f}] of {block['n']:,} faces ({block.get('ties', 0):,} tied: any of a tie counts), "
        f"annotator agreement {block['annotator_agreement'] * 100:.1f} %, vote NLL {block['vote_nll']:.3f}"
    )
    unseen = block.get("unseen")
    if unseen and unseen.get("majority_accuracy") is not None:
        text += f"; unseen in train: majority {unseen['majority_accuracy'] * 100:.1f} % of {unseen['n']:,}"
    return text


CONSENSUS_SHARES = ("majority_accuracy", "ci_low", "ci_high", "annotator_agreement")


def _consensus(f: _Fields, m: dict, where: str) -> dict[str, Any] | None:
    """The FER+ block of a split's metrics, checked like every other field (its unseen-in-train part too)."""
    block = f.obj(m, "ferplus", f"{where}.ferplus", required=False)
    if block is None:
        return None
    parts = [(block, f"{where}.ferplus")]
    unseen = f.obj(block, "unseen", f"{where}.ferplus.unseen", required=False)
    if unseen is not None:
        parts.append((unseen, f"{where}.ferplus.unseen"))
    for part, at in parts:
        for key in ("n", "n_voted", "ties"):
            f.whole(part, key, f"{at}.{key}", required=key != "ties")
        for key in CONSENSUS_SHARES:
            f.number(part, key, f"{at}.{key}", 0, 1, required=False)
        f.number(part, "vote_nll", f"{at}.vote_nll", 0, required=False)
    return block


# What every epoch of a history has (the pages plot these).
HISTORY_NUMBERS = ("seconds", "train_loss", "train_accuracy", "eval_loss", "eval_accuracy")
KNOWN = {
    "format",
    "format_version",
    "config",
    "classes",
    "preprocessing",
    "data",
    "history",
    "best_epoch",
    "selected_on",
    "metrics",
    "num_parameters",
    "trainable_parameters",
    "training_seconds",
    "seconds_this_session",
    "device",
    "torch_version",
    "git_commit",
    "created",
    "complete",
    "weights_sha256",
    "world_size",
    "global_batch",
    "runtime",
    "calibration",
    "explanations",
    "test_time_augmentation",
    "soup",
}


def record_from_dict(meta: Any, file: Path) -> RunRecord:
    """Validate a parsed meta.json; raises CheckpointError naming the file and the first bad field."""
    f = _Fields(file)
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{file} is not a checkpoint description (no format '{FORMAT}')")
    f.whole(meta, "format_version", "format_version", 1, FORMAT_VERSION)
    config_raw = f.obj(meta, "config", "config")
    try:
        config = Experiment.from_dict(config_raw or {})
    except (ConfigError, TypeError) as exc:
        raise f.fail("config", f"is not a valid experiment ({exc})") from None
    classes = f.seq(meta, "classes", "classes")
    if not classes or not all(isinstance(c, str) for c in classes) or len(classes) > 1000:
        raise f.fail("classes", "must be a non-empty list of class names")
    prep = f.obj(meta, "preprocessing", "preprocessing") or {}
    for key in ("decoded_size", "image_size"):  # faces are decoded to a fixed size before the model resizes them
        needed = key == "image_size" or config.task == "fer"
        f.whole(prep, key, f"preprocessing.{key}", 8, MAX_IMAGE_SIDE, required=needed)
    data_raw = f.obj(meta, "data", "data") or {}
    splits = f.obj(data_raw, "splits", "data.splits", required=False) or {}
    sizes = {k[: -len("_size")]: f.whole(data_raw, k, f"data.{k}") for k in data_raw if k.endswith("_size")}
    data = DataInfo(
        f.text(data_raw, "source", "data.source") or "",
        sizes,
        {str(k): str(v) for k, v in splits.items()},
        f.text(data_raw, "reference", "data.reference", required=False),
    )
    history = f.seq(meta, "history", "history")
    for i, h in enumerate(history):
        if not isinstance(h, dict):
            raise f.fail(f"history[{i}]", "is not an object")
        f.whole(h, "epoch", f"history[{i}].epoch", 1)
        for key in HISTORY_NUMBERS:
            f.number(h, key, f"history[{i}].{key}")
    metrics_raw = f.obj(meta, "metrics", "metrics") or {}
    metrics = {}
    for split, m in metrics_raw.items():
        if not isinstance(m, dict):
            raise f.fail(f"metrics.{split}", "is not an object")
        metrics[str(split)] = _split_metrics(f, m, f"metrics.{split}", len(classes))
    complete = meta.get("complete")
    if not isinstance(complete, bool):
        raise f.fail("complete", "must be true or false")
    return RunRecord(
        config=config,
        classes=list(classes),
        preprocessing=prep,
        data=data,
        history=history,
        metrics=metrics,
        best_epoch=f.whole(meta, "best_epoch", "best_epoch", 1, required=False),
        selected_on=f.text(meta, "selected_on", "selected_on") or "last epoch",
        num_parameters=f.whole(meta, "num_parameters", "num_parameters", required=False) or 0,
        trainable_parameters=f.whole(meta, "trainable_parameters", "trainable_parameters", required=False) or 0,
        training_seconds=f.number(meta, "training_seconds", "training_seconds", 0, required=False) or 0.0,
        seconds_this_session=f.number(meta, "seconds_this_session", "seconds_this_session", 0, required=False),
        device=f.text(meta, "device", "device"),
        torch_version=f.text(meta, "torch_version", "torch_version"),
        git_commit=f.text(meta, "git_commit", "git_commit"),
        created=f.text(meta, "created", "created") or "",
        complete=complete,
        weights_sha256=f.text(meta, "weights_sha256", "weights_sha256"),
        world_size=f.whole(meta, "world_size", "world_size", 1, required=False) or 1,
        global_batch=f.whole(meta, "global_batch", "global_batch", 1, required=False),
        runtime=_runtime(f, meta),
        calibration=f.obj(meta, "calibration", "calibration", required=False),
        explanations=f.obj(meta, "explanations", "explanations", required=False),
        test_time_augmentation=f.obj(meta, "test_time_augmentation", "test_time_augmentation", required=False),
        soup=f.obj(meta, "soup", "soup", required=False),
        extra={k: v for k, v in meta.items() if k not in KNOWN},
    )


def _runtime(f: _Fields, meta: dict) -> dict[str, Any] | None:
    runtime = f.obj(meta, "runtime", "runtime", required=False)
    if runtime is not None:
        for key, allowed in (("precision", ("fp32", "bf16")), ("memory_format", ("nchw", "channels-last"))):
            if runtime.get(key) not in allowed:
                raise f.fail(f"runtime.{key}", f"must be one of {', '.join(allowed)}, not {runtime.get(key)!r}")
    return runtime


def read_record(directory: str | Path) -> RunRecord:
    """The validated record of a run folder (its meta.json)."""
    directory = Path(directory)
    path = directory / META_FILE
    if not path.is_file():
        raise CheckpointError(f"{directory} is not a checkpoint: it has no {META_FILE}")
    try:
        meta = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path} is not valid JSON ({exc})") from None
    except OSError as exc:
        raise CheckpointError(f"{path} cannot be read ({exc.strerror})") from None
    except RecursionError:  # a run record is a few levels deep; thousands of nested [ or { are not one
        raise CheckpointError(f"{path} is not a run record: its JSON is nested too deeply to read") from None
    try:
        record = record_from_dict(meta, path)
    except RecursionError:
        raise CheckpointError(f"{path} is not a run record: its JSON is nested too deeply to read") from None
    record.path = directory
    return record


def is_complete(directory: str | Path) -> bool:
    """Whether the directory holds a finished run (resumable runs are skipped or resumed, finished ones not).
    A meta.json that is there but malformed is an error, not "unfinished": nothing is retrained over it."""
    if not (Path(directory) / META_FILE).exists():
        return False
    return read_record(directory).complete
