"""The notMNIST models: the study's small CNN, and an MLP that has no notion of neighbouring pixels."""

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
