"""The models: the study's small CNN and an MLP for notMNIST; ImageNet backbones for FER (core.backbones)."""
from torch import nn

from .config import Experiment


class SmallCNN(nn.Module):
    """Two conv layers with max pooling, one dense hidden layer, softmax output (as logits)."""

    def __init__(self, num_classes: int = 10, image_size: int = 28, dropout: float = 0.5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(64 * (image_size // 4) ** 2, 128), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(128, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x))


class MLP(nn.Module):
    """Fully connected: its first layer sees every pixel, so a fixed permutation of the input can be undone
    exactly by permuting that layer's weight columns."""

    def __init__(self, num_classes: int = 10, image_size: int = 28, hidden: tuple[int, ...] = (512, 256),
                 dropout: float = 0.3):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = image_size * image_size
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU(inplace=True), nn.Dropout(dropout)]
            width = h
        layers.append(nn.Linear(width, num_classes))
        self.net = nn.Sequential(*layers)

    @property
    def first_layer(self) -> nn.Linear:
        return self.net[1]

    def forward(self, x):
        return self.net(x)


def build_model(config: Experiment, num_classes: int = 10, load_weights: bool = True) -> nn.Module:
    """The model `config` describes. load_weights=False skips pretrained weights (a checkpoint follows)."""
    if config.model == "cnn":
        return SmallCNN(num_classes, config.img_size)
    if config.model == "mlp":
        return MLP(num_classes, config.img_size)
    from .backbones import build_backbone

    return build_backbone(config, num_classes, load_weights=load_weights)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
