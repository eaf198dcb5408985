"""One experiment description that drives the CLI, the app and the tests.

`Experiment` is what a run is. Each of its fields is declared once, with its `Setting` beside it (`setting(...)`:
flag, help, group, tasks, choices, range); `FLAGS`, `CHOICES` and the checks are derived from there. The parser
(core.cli), the app's background jobs (core.jobs), its forms and the sweep's "fill the missing rows" command all
go through them and `Experiment.to_args`, so a flag is named in one place. The networks are named once too
(`MODEL_REGISTRY`; core.models.BUILDERS builds them).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import typing
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError

# The model registry: every network by task, with the name people read (core.models.BUILDERS builds each one;
# a test checks the two name the same networks). deep_cnn is "beyond the study", not one of its models.
MODEL_REGISTRY: dict[str, dict[str, str]] = {
    "notmnist": {"cnn": "CNN", "mlp": "MLP", "deep_cnn": "Deep CNN (beyond the study)"},
    "fer": {"resnet18": "ResNet-18", "mobilenet_v2": "MobileNetV2"},
}
MODELS = {task: tuple(models) for task, models in MODEL_REGISTRY.items()}
MODEL_NAMES = {name: shown for models in MODEL_REGISTRY.values() for name, shown in models.items()}
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
SOUP_METHODS = ("greedy", "uniform")  # weight soups (core.engine.soup)
# Upper bounds that keep a typo from allocating gigabytes (a CNN batch of 4,000 used 3 GB).
MAX_BATCH_SIZE = 1024
MAX_EPOCHS = 1000
MAX_SEED = 2**32 - 1  # torch seeds a generator from an unsigned 64-bit number (and DDP ranks from seed * 1000)
FER_IMG_SIZES = (16, 512)


@dataclass(frozen=True)
class Setting:
    """How one Experiment field is spelled on the command line and checked, declared beside the field (`setting`):
    the parser (core.cli.flags), the checks below, `Experiment.to_args` and the app's forms all read it."""

    flag: str | None = None  # None: not a command-line flag
    help: str = ""
    group: str = "training"  # "model", "training" or "data": the argument group in --help
    tasks: tuple[str, ...] = ()  # the tasks the flag applies to (empty: every task)
    kind: str = "value"  # value | switch (store_true) | negated (--no-X stores False)
    choices: tuple[str, ...] | None = None  # the values allowed (model: the task's networks, MODELS)
    low: float | None = None  # the range allowed, for numbers (None stays allowed where the field may be None)
    high: float | None = None
    open_low: bool = False  # the bound itself is not allowed
    open_high: bool = False
    rule: str = ""  # the range in words, for the error ("between 1 and 1000")
    label: str = ""  # the field as a range error names it ("batch size"; default: its name with spaces)

    def in_range(self, value: Any) -> bool:
        if value is None:
            return True
        if self.low is not None and (value < self.low or (self.open_low and value == self.low)):
            return False
        return self.high is None or not (value > self.high or (self.open_high and value == self.high))


def setting(default: Any = dataclasses.MISSING, **spec: Any) -> Any:
    """A field of Experiment with its Setting."""
    return field(default=default, metadata={"setting": Setting(**spec)})


@dataclass
class Experiment:
    # what
    task: str = "notmnist"
    model: str | None = setting(
        None,
        flag="--model",
        group="model",
        help="the network: notmnist --model cnn|mlp|deep_cnn (default cnn), fer --arch resnet18|mobilenet_v2 "
        "(default resnet18)",
    )
    permute: bool = setting(
        False,
        flag="--permute",
        group="model",
        tasks=("notmnist",),
        kind="switch",
        help="notmnist: apply a fixed random pixel permutation",
    )
    permutation_seed: int = setting(
        0,
        flag="--permutation-seed",
        group="model",
        tasks=("notmnist",),
        low=0,
        high=MAX_SEED,
        rule=f"between 0 and {MAX_SEED:,}",
        help="notmnist: seed of the fixed permutation (default 0)",
    )
    pretrained: bool = setting(
        False,
        flag="--pretrained",
        group="model",
        tasks=("fer",),
        kind="switch",
        help="fer: start from torchvision's ImageNet weights",
    )
    weights: str | None = setting(
        None,
        flag="--weights",
        group="model",
        tasks=("fer",),
        help="fer: a local ImageNet state_dict (.pth/.safetensors) instead of the download",
    )
    init_from: str | None = setting(
        None,
        flag="--init-from",
        group="model",
        help="start from this trained run's weights (a run folder: same task, model and classes; fer: any input size)",
    )
    freeze: str = setting(
        "none",
        flag="--freeze",
        group="model",
        tasks=("fer",),
        choices=FREEZE_DEPTHS,
        help="fer: frozen prefix of the backbone, needs pretrained weights (default none)",
    )
    img_size: int | None = setting(
        None,
        flag="--img-size",
        group="model",
        tasks=("fer",),
        label="image size",
        help="fer: model input size in px (default 224, the study's)",
    )
    # how long and how
    epochs: int = setting(
        10,
        flag="--epochs",
        low=1,
        high=MAX_EPOCHS,
        rule=f"between 1 and {MAX_EPOCHS}",
        help="training epochs (default 10)",
    )
    batch_size: int = setting(
        64,
        flag="--batch-size",
        low=1,
        high=MAX_BATCH_SIZE,
        rule=f"between 1 and {MAX_BATCH_SIZE}",
        help=f"images per step, 1-{MAX_BATCH_SIZE} (default 64)",
    )
    optimizer: str = setting(
        "adam", flag="--optimizer", choices=OPTIMIZERS, help="adam, or sgd with momentum 0.9 (default adam)"
    )
    lr: float = setting(
        1e-3,
        flag="--lr",
        low=0,
        high=10,
        open_low=True,
        rule="above 0 and at most 10",
        label="learning rate",
        help="learning rate (default 0.001)",
    )
    weight_decay: float | None = setting(
        None,
        flag="--weight-decay",
        low=0,
        high=1,
        rule="between 0 and 1",
        help="weight decay (default 1e-4 notmnist, 0 fer)",
    )
    lr_schedule: str | None = setting(
        None, flag="--lr-schedule", choices=LR_SCHEDULES, help="per-batch schedule (default cosine notmnist, step fer)"
    )
    step_size: int | None = setting(
        None,
        flag="--step-size",
        low=1,
        rule="at least 1 epoch",
        help="step schedule: epochs per decay (default a third of the run)",
    )
    gamma: float = setting(
        0.1,
        flag="--gamma",
        low=0,
        high=1,
        open_low=True,
        rule="above 0 and at most 1",
        help="step schedule: decay factor (default 0.1)",
    )
    label_smoothing: float = setting(
        0.0,
        flag="--label-smoothing",
        low=0,
        high=1,
        open_high=True,
        rule="at least 0 and below 1",
        help="label smoothing, 0 to <1 (default 0)",
    )
    labels: str = setting(
        "fer2013",
        flag="--labels",
        tasks=("fer",),
        choices=LABEL_SOURCES,
        help="fer: train on FER-2013's labels, or on the FER+ annotators' plurality or vote "
        "distribution (default fer2013; ferplus-* need ferplus.csv beside the data)",
    )
    # knowledge distillation: finished runs (folders, comma-separated) whose averaged predictions the student learns
    teachers: str | None = setting(
        None,
        flag="--teachers",
        help="distil from these finished runs (folders, comma-separated): the student "
        "also learns their mean prediction",
    )
    distill_weight: float = setting(
        0.5,
        flag="--distill-weight",
        low=0,
        high=1,
        open_low=True,
        rule="above 0 and at most 1",
        help="with --teachers: the soft targets' share of the loss (default 0.5)",
    )
    distill_temperature: float = setting(
        2.0,
        flag="--distill-temperature",
        low=0.5,
        high=20,
        rule="between 0.5 and 20",
        help="with --teachers: the softening temperature (default 2)",
    )
    # regularisers: MixUp / CutMix Beta(alpha, alpha) blends of image pairs (0 off; both set: one per batch) ...
    mixup: float = setting(
        0.0,
        flag="--mixup",
        low=0,
        high=10,
        rule="between 0 and 10 (Beta's alpha; 0 off)",
        help="MixUp: blend image pairs, Beta(alpha, alpha) weights; 0 off (default 0)",
    )
    cutmix: float = setting(
        0.0,
        flag="--cutmix",
        low=0,
        high=10,
        rule="between 0 and 10 (Beta's alpha; 0 off)",
        help="CutMix: paste a box of another image, Beta(alpha, alpha) area; 0 off (default 0)",
    )
    # ... and an exponential moving average of the weights, per step (0 off; e.g. 0.999); checked in _check_ranges
    ema_decay: float = setting(
        0.0,
        flag="--ema-decay",
        label="EMA decay",
        help="keep an EMA of the weights, decay per step, e.g. 0.999; 0 off (default 0)",
    )
    class_weights: bool = setting(
        False, flag="--class-weights", kind="switch", help="weight the loss by inverse class frequency"
    )
    augment_shift: int = setting(
        1,
        flag="--shift",
        tasks=("notmnist",),
        low=0,
        high=14,
        label="shift",
        rule="between 0 and 14 pixels",
        help="notmnist: random shift in px, 0 disables (default 1)",
    )
    flip: bool = setting(True, flag="--no-flip", tasks=("fer",), kind="negated", help="fer: no random horizontal flips")
    crop_scale: float = setting(
        0.85,
        flag="--crop-scale",
        tasks=("fer",),
        low=0.1,
        high=1,
        rule="between 0.1 and 1",
        help="fer: random crops keep this share of the side, 1 disables (default 0.85)",
    )
    rotation: float = setting(
        0.0,
        flag="--rotation",
        tasks=("fer",),
        low=0,
        high=180,
        rule="between 0 and 180 degrees",
        help="fer: random rotation in degrees (default 0)",
    )
    erasing: float = setting(
        0.0,
        flag="--erasing",
        tasks=("fer",),
        low=0,
        high=1,
        rule="a probability between 0 and 1",
        help="fer: random erasing probability (default 0)",
    )
    # FixRes (Touvron et al., 2019): training crops show faces larger than a whole-face view; evaluating on the
    # centre brings the apparent size back to what the network learned
    eval_crop: float = setting(
        1.0,
        flag="--eval-crop",
        tasks=("fer",),
        low=0.5,
        high=1,
        rule="between 0.5 and 1",
        help="fer: evaluation, calibration and the webcam see the centre of each face, this share of its side "
        "(default 1, the whole face)",
    )
    dropout: float | None = setting(
        None,
        flag="--dropout",
        tasks=("notmnist",),
        low=0,
        high=1,
        open_high=True,
        rule="at least 0 and below 1",
        help="notmnist: dropout of the dense layers (default 0.5 CNN, 0.3 MLP)",
    )
    seed: int = setting(
        0, flag="--seed", low=0, high=MAX_SEED, rule=f"between 0 and {MAX_SEED:,}", help="training seed (default 0)"
    )
    precision: str = setting(
        "auto",
        flag="--precision",
        choices=PRECISIONS,
        help="auto (the fastest, measured once per machine and setting), fp32 or bf16 (default auto)",
    )
    memory_format: str = setting(
        "auto",
        flag="--memory-format",
        choices=MEMORY_FORMATS,
        help="auto (the fastest, measured), nchw or channels-last (default auto)",
    )
    # where from
    data: str | None = setting(
        None,
        flag="--data",
        group="data",
        help="data source: a folder, a hub id or `bundled` (default $NOTMNIST_DATA or the hub; $FER_DATA)",
    )
    train_limit: int | None = setting(
        None,
        flag="--train-limit",
        group="data",
        low=1,
        rule="at least 1 image (leave it out for all)",
        help="use only the first N training images (default all)",
    )
    test_limit: int | None = setting(
        None,
        flag="--test-limit",
        group="data",
        low=1,
        rule="at least 1 image (leave it out for all)",
        help="use only the first N images of validation and test (default all)",
    )
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


@functools.cache
def settings() -> dict[str, Setting]:
    """Every Experiment field's Setting, in field order (read once: every Experiment is checked against it)."""
    return {f.name: f.metadata["setting"] for f in dataclasses.fields(Experiment) if "setting" in f.metadata}


@functools.cache
def _annotations() -> dict[str, Any]:
    """The fields' evaluated annotations, once (typing.get_type_hints costs about 0.4 ms a call)."""
    return typing.get_type_hints(Experiment)


def field_type(name: str) -> type:
    """int, float, bool or str, read from the field's annotation (`int | None` -> int)."""
    hint = _annotations()[name]
    return next(k for k in (bool, int, float, str) if hint is k or k in typing.get_args(hint))


def _check_types(c: Experiment) -> None:
    for name in settings():
        value, kind = getattr(c, name), field_type(name)
        if value is None and type(None) in typing.get_args(_annotations()[name]):
            continue
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise ConfigError(f"{_spelled(name)} must be a whole number, not {value!r}")
        if kind is float and (
            isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
        ):
            raise ConfigError(f"{_spelled(name)} must be a finite number, not {value!r}")
        if kind is bool and not isinstance(value, bool):
            raise ConfigError(f"{_spelled(name)} must be true or false, not {value!r}")
        if kind is str and not isinstance(value, str):
            raise ConfigError(f"{name} must be a path or name, not {value!r}")
    if not isinstance(c.extra, dict):
        raise ConfigError(f"extra must be a JSON object, not {c.extra!r}")


def _check_choices(c: Experiment) -> None:
    for name, spec in settings().items():
        allowed = MODELS[c.task] if name == "model" else spec.choices
        if allowed is not None and getattr(c, name) not in allowed:
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
    for name, spec in settings().items():
        if spec.rule and not spec.in_range(getattr(c, name)):
            raise ConfigError(f"{spec.label or name.replace('_', ' ')} must be {spec.rule}")
    if not (c.ema_decay == 0 or 0.5 <= c.ema_decay < 1):
        raise ConfigError("EMA decay must be 0 (off) or at least 0.5 and below 1")
    low, high = FER_IMG_SIZES
    if c.task == "notmnist" and c.img_size != 28:
        raise ConfigError("image size must be 28 px for notmnist (its images are 28 x 28)")
    if c.task == "fer" and not low <= c.image_size <= high:
        raise ConfigError(f"image size must be between {low} and {high} px")


@dataclass(frozen=True)
class Flag:
    """One Experiment field on the command line (derived from its Setting)."""

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


FLAGS = tuple(
    Flag(name, spec.flag, spec.help, spec.group, spec.tasks, spec.kind)
    for name, spec in settings().items()
    if spec.flag
)
FLAG_BY_FIELD = {flag.field: flag for flag in FLAGS}
CHOICES = {name: spec.choices for name, spec in settings().items() if spec.choices is not None}
