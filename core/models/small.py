"""The notMNIST models: the study's small CNN, and an MLP that has no notion of neighbouring pixels."""

import copy

import torch
from torch import nn


class SmallCNN(nn.Module):
    """Two conv layers with max pooling, one dense hidden layer, softmax output (as logits)."""

    def __init__(self, num_classes: int = 10, image_size: int = 28, dropout: float = 0.5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1),
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(64 * (image_size // 4) ** 2, 128),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(128, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x))


class DeepCNN(nn.Module):
    """Beyond the study: three VGG-style blocks (two 3x3 convs with batch norm each, then max pooling), global
    average pooling and one dense layer. Still small (about 0.3 M weights), so a CPU trains it in minutes."""

    def __init__(self, num_classes: int = 10, image_size: int = 28, dropout: float = 0.3, widths=(32, 64, 128)):
        super().__init__()
        layers: list[nn.Module] = []
        channels = 1
        for width in widths:
            for _ in range(2):
                layers += [nn.Conv2d(channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width),
                           nn.ReLU(inplace=True)]  # fmt: skip
                channels = width
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(channels, 256),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(256, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x))


class MLP(nn.Module):
    """Fully connected: its first layer sees every pixel, so a fixed permutation of the input can be undone
    exactly by permuting that layer's weight columns."""

    def __init__(
        self, num_classes: int = 10, image_size: int = 28, hidden: tuple[int, ...] = (512, 256), dropout: float = 0.3
    ):
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
        layer = self.net[1]
        assert isinstance(layer, nn.Linear)
        return layer

    def forward(self, x):
        return self.net(x)

    def for_permuted_inputs(self, perm: torch.Tensor) -> "MLP":
        """A copy that gives on permuted images (pixel i from pixel perm[i]) exactly what this one gives on the
        originals: its first layer's weight columns are permuted the same way. The MLP's invariance, shown."""
        twin = copy.deepcopy(self)
        with torch.no_grad():
            twin.first_layer.weight.copy_(self.first_layer.weight[:, perm])
        return twin

    def first_layer_maps(self, image_size: int = 28, inverse: torch.Tensor | None = None) -> torch.Tensor:
        """The first layer's weights as one image_size x image_size map per hidden unit; with `inverse` (of the
        training permutation) put back on the letter's grid."""
        weight = self.first_layer.weight.detach()
        if inverse is not None:
            weight = weight[:, inverse]
        return weight.reshape(-1, image_size, image_size)
