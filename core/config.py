"""One experiment description that drives the CLI, the app and the tests."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

MODELS = {"notmnist": ("cnn", "mlp"), "fer": ("resnet18", "mobilenet_v2")}
TASKS = tuple(MODELS)
NOTMNIST_MODELS = MODELS["notmnist"]
FER_ARCHS = MODELS["fer"]
# How much of the backbone is frozen; each depth includes everything before it (see core.backbones).
FREEZE_DEPTHS = ("none", "layer1", "layer2", "layer3", "all")
LR_SCHEDULES = ("cosine", "step", "onecycle", "constant")

# Values a field takes when left as None, per task.
TASK_DEFAULTS: dict[str, dict[str, Any]] = {
    "notmnist": {"model": "cnn", "img_size": 28, "lr_schedule": "cosine", "weight_decay": 1e-4,
                 # at 28 px the bf16 casts cost more than they save
                 "bf16": False},
    "fer": {"model": "resnet18", "img_size": 224, "lr_schedule": "step", "weight_decay": 0.0, "bf16": True},
}


@dataclass
class Experiment:
    # what
    task: str = "notmnist"
    model: str | None = None  # notmnist: cnn | mlp; fer: resnet18 | mobilenet_v2
    permute: bool = False  # notmnist: a fixed random pixel permutation ...
    permutation_seed: int = 0  # ... drawn from this seed; stored so inference applies the same one
    pretrained: bool = False  # fer: start from torchvision's ImageNet weights
    weights: str | None = None  # fer: a local state_dict file instead of torchvision's download
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
    class_weights: bool = False  # weight the loss by inverse class frequency
    augment_shift: int = 1  # notmnist: random shift in pixels (batched, before permutation); 0 disables
    flip: bool = True  # fer: random horizontal flip
    crop_scale: float = 0.85  # fer: random crops keep this share of the side (1 disables)
    rotation: float = 0.0  # fer: random rotation, degrees
    erasing: float = 0.0  # fer: probability of random erasing
    seed: int = 0
    bf16: bool | None = None  # bf16 autocast where the hardware has it (CPUs with AVX512-BF16, CUDA)
    # where from
    data: str | None = None  # source; None means the task's environment variable (or hub id)
    train_limit: int | None = None  # use only the first N images of each split (tests, quick runs)
    test_limit: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"unknown task {self.task!r}; choose one of {', '.join(TASKS)}")
        for key, value in TASK_DEFAULTS[self.task].items():
            if getattr(self, key) is None:
                setattr(self, key, value)
        if self.model not in MODELS[self.task]:
            raise ValueError(f"unknown model {self.model!r} for {self.task}; choose one of "
                             f"{', '.join(MODELS[self.task])}")
        if self.freeze not in FREEZE_DEPTHS:
            raise ValueError(f"unknown freeze depth {self.freeze!r}; choose one of {', '.join(FREEZE_DEPTHS)}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"unknown lr schedule {self.lr_schedule!r}; choose one of {', '.join(LR_SCHEDULES)}")
        if self.freeze != "none" and not (self.pretrained or self.weights):
            raise ValueError("freezing layers only makes sense for a pretrained model (--pretrained or --weights)")
        if self.optimizer not in ("adam", "sgd"):
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose adam or sgd")
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0 or self.img_size < 8:
            raise ValueError("epochs and batch size must be at least 1, the learning rate positive, images >= 8 px")

    @property
    def name(self) -> str:
        """A short run name such as `cnn-permuted0-s0` or `resnet18-pretrained-layer1-224px-s0`."""
        if self.task == "notmnist":
            pixels = f"permuted{self.permutation_seed}" if self.permute else "original"
            return f"{self.model}-{pixels}-s{self.seed}"
        start = "pretrained" if (self.pretrained or self.weights) else "scratch"
        freeze = f"-{self.freeze}" if self.freeze != "none" else ""
        return f"{self.model}-{start}{freeze}-{self.img_size}px-s{self.seed}"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "Experiment":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)
