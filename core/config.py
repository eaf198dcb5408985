"""One experiment description that drives the CLI, the app and the tests, and the one table of its CLI flags.

`Experiment` is what a run is; `FLAGS` is how it is spelled on the command line. The parser (core.cli), the
app's background jobs (core.jobs) and the sweep's "fill the missing rows" command all go through `FLAGS`
and `Experiment.to_args`, so a flag is named in one place.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError

# deep_cnn: "beyond the study", not one of its models (core.models.small.DeepCNN)
MODELS = {"notmnist": ("cnn", "mlp", "deep_cnn"), "fer": ("resnet18", "mobilenet_v2")}
TASKS = tuple(MODELS)
NOTMNIST_MODELS = MODELS["notmnist"]
FER_ARCHS = MODELS["fer"]
# How much of the backbone is frozen; each depth includes everything before it (see core.models.backbones).
FREEZE_DEPTHS = ("none", "layer1", "layer2", "layer3", "all")
LR_SCHEDULES = ("cosine", "step", "onecycle", "constant")
OPTIMIZERS = ("adam", "sgd")
# fer: what a face's label is: FER-2013's own, or the ten FER+ annotators' plurality or vote distribution
LABEL_SOURCES = ("fer2013", "ferplus-majority", "ferplus-votes")

# Values a field takes when left as None, per task.
TASK_DEFAULTS: dict[str, dict[str, Any]] = {
    "notmnist": {
        "model": "cnn",
        "img_size": 28,
        "lr_schedule": "cosine",
        "weight_decay": 1e-4,
    },
    "fer": {"model": "resnet18", "img_size": 224, "lr_schedule": "step", "weight_decay": 0.0},
}
# auto: the fastest mode by measurement, once per machine and setting (core.inference.modes)
PRECISIONS = ("auto", "fp32", "bf16")
EXPLAIN_METHODS = ("saliency", "integrated-gradients", "occlusion", "gradcam")  # core.inference.explain (Captum)
MEMORY_FORMATS = ("auto", "nchw", "channels-last")
TTA_METHODS = ("none", "flip", "ten-crop")  # test-time augmentation of faces (core.inference.tta)
# Upper bounds that keep a typo from allocating gigabytes (a CNN batch of 4,000 used 3 GB).
MAX_BATCH_SIZE = 1024
MAX_EPOCHS = 1000
MAX_SEED = 2**32 - 1  # torch seeds a generator from an unsigned 64-bit number (and DDP ranks from seed * 1000)
FER_IMG_SIZES = (16, 512)


@dataclass
class Experiment:
    # what
    task: str = "notmnist"
    model: str | None = None  # notmnist: cnn | mlp; fer: resnet18 | mobilenet_v2
    permute: bool = False  # notmnist: a fixed random pixel permutation ...
    permutation_seed: int = 0  # ... drawn from this seed; stored so inference applies the same one
    pretrained: bool = False  # fer: start from torchvision's ImageNet weights
    weights: str | None = None  # fer: a local state_dict file instead of torchvision's download
    init_from: str | None = None  # start from this trained run's weights (same task, model and classes): fine-tuning
    freeze: str = "none"  # fer: none | layer1 | layer2 | layer3 | all
    img_size: int | None = None  # model input size (fer default 224, the study's)
    # how long and how
    epochs: int = 10
    batch_size: int = 64
    optimizer: str = "adam"  # adam | sgd (momentum 0.9)
    lr: float = 1e-3
    weight_decay: float | None = None
    lr_schedule: str | None = None  # cosine (per batch) | step (StepLR) | onecycle | constant
    step_size: int | None = None  # StepLR: epochs per decay (default: a third of the run)
    gamma: float = 0.1  # StepLR decay
    label_smoothing: float = 0.0
    labels: str = "fer2013"  # fer: fer2013 | ferplus-majority | ferplus-votes (core.data.ferplus)
    # knowledge distillation: finished runs (folders, comma-separated) whose averaged predictions the student learns
    teachers: str | None = None
    distill_weight: float = 0.5  # with teachers: the soft targets' share of the loss
    distill_temperature: float = 2.0  # with teachers: how much both sides' predictions are softened
    class_weights: bool = False  # weight the loss by inverse class frequency
    # regularisers: MixUp / CutMix Beta(alpha, alpha) blends of image pairs (0 off; both set: one per batch) ...
    mixup: float = 0.0
    cutmix: float = 0.0
    ema_decay: float = 0.0  # ... and an exponential moving average of the weights, per step (0 off; e.g. 0.999)
    augment_shift: int = 1  # notmnist: random shift in pixels (batched, before permutation); 0 disables
    flip: bool = True  # fer: random horizontal flip
    crop_scale: float = 0.85  # fer: random crops keep this share of the side (1 disables)
    rotation: float = 0.0  # fer: random rotation, degrees
    erasing: float = 0.0  # fer: probability of random erasing
    dropout: float | None = None  # notmnist: dropout of the dense layers (None: the model's own, 0.5 CNN, 0.3 MLP)
    seed: int = 0
    precision: str = "auto"  # auto | fp32 | bf16 (bf16 autocast, where the hardware has it)
    memory_format: str = "auto"  # auto | nchw | channels-last
    # where from
    data: str | None = None  # source; None means the task's environment variable (or hub id)
    train_limit: int | None = None  # use only the first N images of each split (tests, quick runs)
    test_limit: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ConfigError(f"unknown task {self.task!r}; choose one of {', '.join(TASKS)}")
        for key, value in TASK_DEFAULTS[self.task].items():
            if getattr(self, key) is None:
                setattr(self, key, value)
        _check_types(self)
        _check_choices(self)
        _check_ranges(self)

    @property
    def name(self) -> str:
        """A short run name such as `cnn-permuted0-s0` or `resnet18-pretrained-layer1-224px-s0`."""
        if self.task == "notmnist":
            pixels = f"permuted{self.permutation_seed}" if self.permute else "original"
            return f"{self.model}-{pixels}{'-tuned' if self.init_from else ''}-s{self.seed}"
        start = "tuned" if self.init_from else "pretrained" if (self.pretrained or self.weights) else "scratch"
        freeze = f"-{self.freeze}" if self.freeze != "none" else ""
        distilled = "-distilled" if self.teachers else ""
        labels = f"-{self.labels}" if self.labels != "fer2013" else ""
        return f"{self.model}-{start}{freeze}{distilled}{labels}-{self.img_size}px-s{self.seed}"

    @property
    def start(self) -> str:
        """Where the weights started, as people say it: 'from scratch', 'fine-tuned from ImageNet' or
        'fine-tuned from a trained run' (`init_from` names it)."""
        if self.init_from:
            return "fine-tuned from a trained run"
        return "fine-tuned from ImageNet" if (self.pretrained or self.weights) else "from scratch"

    @property
    def arch(self) -> str:
        """The network's name (model, filled from the task's default)."""
        assert self.model is not None  # set in __post_init__
        return self.model

    @property
    def image_size(self) -> int:
        """The model's input side in pixels (img_size, filled from the task's default)."""
        assert self.img_size is not None  # set in __post_init__
        return self.img_size

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Experiment:
        if not isinstance(values, dict):
            raise ConfigError(f"an experiment is a JSON object of settings, not {type(values).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in _from_legacy(values).items() if k in known})

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def to_args(self, skip: tuple[str, ...] = (), always: tuple[str, ...] = ()) -> list[str]:
        """The CLI flags that give this experiment (`python -m core train <task> ...`): every field that differs
        from the task's defaults, plus the fields in `always`; fields in `skip` are left out."""
        default = Experiment(task=self.task)
        args: list[str] = []
        for flag in FLAGS:
            if flag.field in skip or (flag.tasks and self.task not in flag.tasks):
                continue
            value = getattr(self, flag.field)
            if value == getattr(default, flag.field) and flag.field not in always:
                continue
            args += flag.spell(value, self.task)
        return args


def _from_legacy(values: dict[str, Any]) -> dict[str, Any]:
    """Records written before precision and memory layout were chosen by measurement say `bf16` (autocast where
    supported) and used channels-last for the ImageNet backbones: that is what they were trained with."""
    if "bf16" not in values or "precision" in values:
        return values
    values = dict(values)
    legacy_bf16 = values.pop("bf16")
    values["precision"] = "bf16" if legacy_bf16 is True else "fp32"
    small = values.get("model") in ("cnn", "mlp") or (values.get("model") is None and values.get("task") == "notmnist")
    values.setdefault("memory_format", "nchw" if small else "channels-last")
    return values


def _spelled(name: str) -> str:
    """A field as the user typed it: its CLI flag where it has one."""
    return FLAG_BY_FIELD[name].flag if name in FLAG_BY_FIELD and name != "model" else name


def _check_types(c: Experiment) -> None:
    ints = ("permutation_seed", "img_size", "epochs", "batch_size", "augment_shift", "seed")
    optional_ints = ("step_size", "train_limit", "test_limit")
    floats: tuple[str, ...] = ("lr", "weight_decay", "gamma", "label_smoothing", "crop_scale", "rotation", "erasing",
                               "distill_weight", "distill_temperature", "mixup", "cutmix", "ema_decay")  # fmt: skip
    if c.dropout is not None:
        floats += ("dropout",)
    bools = ("permute", "pretrained", "class_weights", "flip")
    for name in ints + optional_ints:
        value = getattr(c, name)
        if value is None and name in optional_ints:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{_spelled(name)} must be a whole number, not {value!r}")
    for name in floats:
        value = getattr(c, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"{_spelled(name)} must be a finite number, not {value!r}")
    for name in bools:
        if not isinstance(getattr(c, name), bool):
            raise ConfigError(f"{_spelled(name)} must be true or false, not {getattr(c, name)!r}")
    for name in ("weights", "data", "teachers"):
        if getattr(c, name) is not None and not isinstance(getattr(c, name), str):
            raise ConfigError(f"{name} must be a path or name, not {getattr(c, name)!r}")
    if not isinstance(c.extra, dict):
        raise ConfigError(f"extra must be a JSON object, not {c.extra!r}")


def _check_choices(c: Experiment) -> None:
    choices = {
        "model": MODELS[c.task],
        "freeze": FREEZE_DEPTHS,
        "lr_schedule": LR_SCHEDULES,
        "optimizer": OPTIMIZERS,
        "precision": PRECISIONS,
        "memory_format": MEMORY_FORMATS,
        "labels": LABEL_SOURCES,
    }
    for name, allowed in choices.items():
        if getattr(c, name) not in allowed:
            raise ConfigError(
                f"unknown {name.replace('_', ' ')} {getattr(c, name)!r} for {c.task}; "
                f"choose one of {', '.join(allowed)}"
            )
    if c.task != "fer" and c.labels != "fer2013":
        raise ConfigError(f"--labels {c.labels} is for the fer task (FER+ votes); {c.task} has its own labels")
    if c.task == "notmnist" and (c.pretrained or c.weights or c.freeze != "none"):
        raise ConfigError("pretrained weights and freezing are for the fer task (ImageNet backbones), not notmnist")
    if c.freeze != "none" and not (c.pretrained or c.weights or c.init_from):
        raise ConfigError("freezing layers only makes sense for a pretrained model (--pretrained or --weights)")
    if c.teachers and (c.mixup or c.cutmix):  # the teachers' targets are per image, not per blend of two
        raise ConfigError("--mixup and --cutmix cannot be combined with --teachers yet")
    if c.init_from and (c.pretrained or c.weights):
        raise ConfigError("--init-from starts from a trained run's weights; leave out --pretrained and --weights")


def _check_ranges(c: Experiment) -> None:
    low, high = FER_IMG_SIZES
    bounds: list[tuple[str, bool, str]] = [
        ("epochs", 1 <= c.epochs <= MAX_EPOCHS, f"between 1 and {MAX_EPOCHS}"),
        ("batch size", 1 <= c.batch_size <= MAX_BATCH_SIZE, f"between 1 and {MAX_BATCH_SIZE}"),
        ("learning rate", 0 < c.lr <= 10, "above 0 and at most 10"),
        ("weight decay", 0 <= (c.weight_decay or 0.0) <= 1, "between 0 and 1"),
        ("gamma", 0 < c.gamma <= 1, "above 0 and at most 1"),
        ("label smoothing", 0 <= c.label_smoothing < 1, "at least 0 and below 1"),
        ("crop scale", 0.1 <= c.crop_scale <= 1, "between 0.1 and 1"),
        ("rotation", 0 <= c.rotation <= 180, "between 0 and 180 degrees"),
        ("erasing", 0 <= c.erasing <= 1, "a probability between 0 and 1"),
        ("distill weight", 0 < c.distill_weight <= 1, "above 0 and at most 1"),
        ("distill temperature", 0.5 <= c.distill_temperature <= 20, "between 0.5 and 20"),
        ("mixup", 0 <= c.mixup <= 10, "between 0 and 10 (Beta's alpha; 0 off)"),
        ("cutmix", 0 <= c.cutmix <= 10, "between 0 and 10 (Beta's alpha; 0 off)"),
        ("EMA decay", c.ema_decay == 0 or 0.5 <= c.ema_decay < 1, "0 (off) or at least 0.5 and below 1"),
        ("dropout", c.dropout is None or 0 <= c.dropout < 1, "at least 0 and below 1"),
        ("shift", 0 <= c.augment_shift <= 14, "between 0 and 14 pixels"),
        ("step size", c.step_size is None or c.step_size >= 1, "at least 1 epoch"),
        ("train limit", c.train_limit is None or c.train_limit >= 1, "at least 1 image (leave it out for all)"),
        ("test limit", c.test_limit is None or c.test_limit >= 1, "at least 1 image (leave it out for all)"),
        ("seed", 0 <= c.seed <= MAX_SEED, f"between 0 and {MAX_SEED:,}"),
        ("permutation seed", 0 <= c.permutation_seed <= MAX_SEED, f"between 0 and {MAX_SEED:,}"),
    ]
    if c.task == "notmnist":
        bounds.append(("image size", c.img_size == 28, "28 px for notmnist (its images are 28 x 28)"))
    else:
        bounds.append(("image size", low <= c.image_size <= high, f"between {low} and {high} px"))
    for name, ok, rule in bounds:
        if not ok:
            raise ConfigError(f"{name} must be {rule}")


@dataclass(frozen=True)
class Flag:
    """One Experiment field on the command line."""

    field: str
    flag: str
    help: str
    group: str  # "model", "training" or "data": the argument group in --help
    tasks: tuple[str, ...] = ()  # the tasks the flag applies to (empty: every task)
    kind: str = "value"  # value | switch (store_true) | negated (--no-X stores False)

    def spell(self, value: Any, task: str) -> list[str]:
        flag = "--arch" if self.field == "model" and task == "fer" else self.flag
        if self.kind == "switch":
            return [flag] if value else []
        if self.kind == "negated":
            return [] if value else [flag]
        return [flag, str(value)]


FLAGS = (
    Flag(
        "model",
        "--model",
        "the network: notmnist --model cnn|mlp (default cnn), fer --arch resnet18|mobilenet_v2 (default resnet18)",
        "model",
    ),
    Flag("permute", "--permute", "notmnist: apply a fixed random pixel permutation", "model", ("notmnist",), "switch"),
    Flag(
        "permutation_seed",
        "--permutation-seed",
        "notmnist: seed of the fixed permutation (default 0)",
        "model",
        ("notmnist",),
    ),
    Flag("pretrained", "--pretrained", "fer: start from torchvision's ImageNet weights", "model", ("fer",), "switch"),
    Flag(
        "weights",
        "--weights",
        "fer: a local ImageNet state_dict (.pth/.safetensors) instead of the download",
        "model",
        ("fer",),
    ),
    Flag(
        "init_from",
        "--init-from",
        "start from this trained run's weights (a run folder: same task, model and classes; fer: any input size)",
        "model",
    ),
    Flag(
        "freeze",
        "--freeze",
        "fer: frozen prefix of the backbone, needs pretrained weights (default none)",
        "model",
        ("fer",),
    ),
    Flag("img_size", "--img-size", "fer: model input size in px (default 224, the study's)", "model", ("fer",)),
    Flag("epochs", "--epochs", "training epochs (default 10)", "training"),
    Flag("batch_size", "--batch-size", f"images per step, 1-{MAX_BATCH_SIZE} (default 64)", "training"),
    Flag("optimizer", "--optimizer", "adam, or sgd with momentum 0.9 (default adam)", "training"),
    Flag("lr", "--lr", "learning rate (default 0.001)", "training"),
    Flag("weight_decay", "--weight-decay", "weight decay (default 1e-4 notmnist, 0 fer)", "training"),
    Flag("lr_schedule", "--lr-schedule", "per-batch schedule (default cosine notmnist, step fer)", "training"),
    Flag("step_size", "--step-size", "step schedule: epochs per decay (default a third of the run)", "training"),
    Flag("gamma", "--gamma", "step schedule: decay factor (default 0.1)", "training"),
    Flag("label_smoothing", "--label-smoothing", "label smoothing, 0 to <1 (default 0)", "training"),
    Flag(
        "labels",
        "--labels",
        "fer: train on FER-2013's labels, or on the FER+ annotators' plurality or vote distribution "
        "(default fer2013; ferplus-* need ferplus.csv beside the data)",
        "training",
        ("fer",),
    ),
    Flag(
        "teachers",
        "--teachers",
        "distil from these finished runs (folders, comma-separated): the student also learns their mean prediction",
        "training",
    ),
    Flag(
        "distill_weight",
        "--distill-weight",
        "with --teachers: the soft targets' share of the loss (default 0.5)",
        "training",
    ),  # fmt: skip
    Flag(
        "distill_temperature",
        "--distill-temperature",
        "with --teachers: the softening temperature (default 2)",
        "training",
    ),  # fmt: skip
    Flag("mixup", "--mixup", "MixUp: blend image pairs, Beta(alpha, alpha) weights; 0 off (default 0)", "training"),
    Flag(
        "cutmix",
        "--cutmix",
        "CutMix: paste a box of another image, Beta(alpha, alpha) area; 0 off (default 0)",
        "training",
    ),  # fmt: skip
    Flag(
        "ema_decay",
        "--ema-decay",
        "keep an EMA of the weights, decay per step, e.g. 0.999; 0 off (default 0)",
        "training",
    ),  # fmt: skip
    Flag("class_weights", "--class-weights", "weight the loss by inverse class frequency", "training", (), "switch"),
    Flag("augment_shift", "--shift", "notmnist: random shift in px, 0 disables (default 1)", "training", ("notmnist",)),
    Flag("flip", "--no-flip", "fer: no random horizontal flips", "training", ("fer",), "negated"),
    Flag(
        "crop_scale",
        "--crop-scale",
        "fer: random crops keep this share of the side, 1 disables (default 0.85)",
        "training",
        ("fer",),
    ),
    Flag("rotation", "--rotation", "fer: random rotation in degrees (default 0)", "training", ("fer",)),
    Flag("erasing", "--erasing", "fer: random erasing probability (default 0)", "training", ("fer",)),
    Flag(
        "dropout",
        "--dropout",
        "notmnist: dropout of the dense layers (default 0.5 CNN, 0.3 MLP)",
        "training",
        ("notmnist",),
    ),  # fmt: skip
    Flag("seed", "--seed", "training seed (default 0)", "training"),
    Flag(
        "precision",
        "--precision",
        "auto (the fastest, measured once per machine and setting), fp32 or bf16 (default auto)",
        "training",
    ),
    Flag(
        "memory_format",
        "--memory-format",
        "auto (the fastest, measured), nchw or channels-last (default auto)",
        "training",
    ),
    Flag(
        "data",
        "--data",
        "data source: a folder, a hub id or `bundled` (default $NOTMNIST_DATA or the hub; $FER_DATA)",
        "data",
    ),
    Flag("train_limit", "--train-limit", "use only the first N training images (default all)", "data"),
    Flag("test_limit", "--test-limit", "use only the first N images of validation and test (default all)", "data"),
)
FLAG_BY_FIELD = {flag.field: flag for flag in FLAGS}
