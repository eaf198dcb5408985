"""Batch transforms (each task module picks one): uint8 images (N x 1 x H x W, the cache's format) -> model
inputs, on whole batches.

Nothing here works per PIL image: augmentation and resizing are one tensor op per batch, so the same code
serves training, evaluation and the webcam (`FaceTransform.eval`, i.e. `preprocess_faces` with the run's crop).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..config import Experiment
from .permutation import make_permutation, permute_pixels

# ImageNet's channel statistics: the pretrained backbones' first conv applies them (core.models.backbones).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

ERASE_VALUE = sum(IMAGENET_MEAN) / 3  # erased pixels become (about) zero after normalisation


def random_shift(x: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Translate each image of a batch by up to max_shift pixels, filling with zeros (one gather, no loop)."""
    if max_shift <= 0:
        return x
    n, _, h, w = x.shape
    padded = F.pad(x, (max_shift,) * 4)
    dy = torch.randint(0, 2 * max_shift + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * max_shift + 1, (n,), generator=generator)
    rows = (dy[:, None] + torch.arange(h))[:, :, None]  # n x h x 1
    cols = (dx[:, None] + torch.arange(w))[:, None, :]  # n x 1 x w
    return padded[torch.arange(n)[:, None, None], :, rows, cols].permute(0, 3, 1, 2)


class LetterTransform:
    """notMNIST: scale to [0, 1]; random shift when training; then the experiment's pixel permutation."""

    def __init__(self, config: Experiment):
        self.shift = config.augment_shift
        self.perm = make_permutation(config.permutation_seed, config.image_size**2) if config.permute else None

    def _finish(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float().div_(255.0)
        return permute_pixels(x, self.perm) if self.perm is not None else x

    def train(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        # Augment in original pixel space, then permute: the permuted task sees the same images, scrambled.
        return self._finish(random_shift(images, self.shift, generator))

    def eval(self, images: torch.Tensor) -> torch.Tensor:
        return self._finish(images)


def preprocess_faces(images: torch.Tensor, size: int, crop: float = 1.0) -> torch.Tensor:
    """uint8 face crops (N x 1 x h x w) -> the model's input: the centre `crop` share of each side (`centre_crop`),
    resized to size x size, scaled to [0, 1]. The evaluation path of training and the live webcam both use exactly
    this. (Repeating to 3 channels and ImageNet normalisation happen exactly inside the model's first conv:
    core.backbones.GrayToRGBConv.)"""
    return resize_faces(centre_crop(images, crop).float().div_(255.0), size)


def crop_margin(side: int, crop: float) -> int:
    """The pixels `centre_crop` cuts from each edge of a side: the same on both edges, so a centre crop of a mirror
    image is the mirror image of the centre crop (flip averaging sees the same face either way)."""
    return int(math.floor(side * (1 - crop) / 2 + 0.5))


def centre_crop(images: torch.Tensor, crop: float) -> torch.Tensor:
    """The centre of N x 1 x h x w images, `crop_margin` pixels in from every edge (a view; 1 keeps them whole)."""
    h, w = images.shape[-2:]
    my, mx = crop_margin(h, crop), crop_margin(w, crop)
    return images[..., my : h - my, mx : w - mx] if my or mx else images


def resize_faces(x: torch.Tensor, size: int) -> torch.Tensor:
    """Float faces in [0, 1] resized to size x size as the model sees them (antialiased when shrinking)."""
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=size < x.shape[-1])
    return x


class FaceTransform:
    """FER: random crop + flip (+ rotation, erasing) as one affine resampling of the whole batch; evaluation sees
    the centre `eval_crop` of each face."""

    def __init__(self, config: Experiment):
        self.size = config.image_size
        self.crop_scale = config.crop_scale
        self.flip = config.flip
        self.rotation = config.rotation
        self.erasing = config.erasing
        self.crop = config.eval_crop

    def train(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        n = images.shape[0]
        x = images.float().div_(255.0)
        u = lambda: torch.rand(n, generator=generator)  # noqa: E731
        scale = self.crop_scale + (1 - self.crop_scale) * u()  # side of the crop, as a share of the image
        reach = 1 - scale  # the crop stays inside the image
        tx, ty = (2 * u() - 1) * reach, (2 * u() - 1) * reach
        angle = (2 * u() - 1) * math.radians(self.rotation)
        flip = torch.where(u() < 0.5, -1.0, 1.0) if self.flip else torch.ones(n)
        cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
        theta = torch.stack([torch.stack([cos * flip, -sin, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1)
        grid = F.affine_grid(theta, [n, 1, self.size, self.size], align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
        if self.erasing > 0:
            x = self._erase(x, generator)
        return x

    def _erase(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Random erasing (filled with the ImageNet mean gray) on a share of the batch, all rectangles in one mask."""
        n, _, h, w = x.shape
        r = lambda: torch.rand(n, generator=generator)  # noqa: E731
        area = (0.02 + 0.18 * r()) * h * w
        aspect = torch.exp(math.log(0.3) + (math.log(3.3) - math.log(0.3)) * r())
        eh = (area * aspect).sqrt().clamp(1, h).long()
        ew = (area / aspect).sqrt().clamp(1, w).long()
        top = (r() * (h - eh + 1)).long()
        left = (r() * (w - ew + 1)).long()
        on = r() < self.erasing
        rows = torch.arange(h)[None, :, None]
        cols = torch.arange(w)[None, None, :]
        mask = (
            (rows >= top[:, None, None])
            & (rows < (top + eh)[:, None, None])
            & (cols >= left[:, None, None])
            & (cols < (left + ew)[:, None, None])
            & on[:, None, None]
        )
        return x.masked_fill(mask[:, None], ERASE_VALUE)

    def eval(self, images: torch.Tensor) -> torch.Tensor:
        return preprocess_faces(images, self.size, self.crop)


BatchTransform = LetterTransform | FaceTransform
