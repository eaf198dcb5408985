"""What a trained network relies on: attribution maps from Captum (saliency, integrated gradients, occlusion,
Grad-CAM), always on the image's own pixel grid, and a faithfulness check of them.

Captum is PyTorch's own interpretability library: the four methods here are its maintained implementations, so
none is written by hand. For a permuted notMNIST model the attribution is taken with respect to the letter's
original pixels (the fixed permutation is part of the explained function), which is the same as mapping the
permuted input's attribution back through the inverse permutation: both models' maps sit on the letter's grid.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..config import EXPLAIN_METHODS
from ..data.permutation import permute_pixels
from ..data.transforms import BatchTransform, LetterTransform, centre_crop, crop_margin, resize_faces
from ..errors import ConfigError

METHODS = EXPLAIN_METHODS


class OnOwnGrid(nn.Module):
    """The model applied to the image as the user sees it (scaled to [0, 1]): the task's own evaluation
    transform after that (the letter's fixed permutation, the face's centre crop and resize) is part of the
    explained function."""

    def __init__(self, model: nn.Module, transform: BatchTransform):
        super().__init__()
        self.model = model
        self.perm = transform.perm if isinstance(transform, LetterTransform) else None
        self.size = None if isinstance(transform, LetterTransform) else transform.size
        self.crop = 1.0 if isinstance(transform, LetterTransform) else transform.crop

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.perm is not None:
            x = permute_pixels(x, self.perm)
        elif self.size is not None:  # exactly as preprocess_faces, on float pixels (gradients flow)
            x = resize_faces(centre_crop(x, self.crop), self.size)
        return self.model(x)

    def on_grid(self, cam: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
        """A Grad-CAM map (the last stage's grid) on the image's grid of `shape`: stretched over the centre the
        model sees, zero on the edges its crop leaves out."""
        h, w = shape[-2:]
        my, mx = crop_margin(h, self.crop), crop_margin(w, self.crop)
        maps = F.interpolate(cam, size=(h - 2 * my, w - 2 * mx), mode="bilinear", align_corners=False)
        return F.pad(maps, (mx, mx, my, my))


def last_stage(model: nn.Module) -> nn.Module:
    """The layer Grad-CAM looks at: the last convolutional stage (backbones) or the last conv (the small CNN)."""
    stages = getattr(model, "stages", None)
    if stages is not None:
        return stages[-1]
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ConfigError("Grad-CAM needs a convolutional layer; this model has none (use saliency, "
                          "integrated-gradients or occlusion)")  # fmt: skip
    return convs[-1]


@dataclass
class Attribution:
    maps: np.ndarray  # N x H x W, on the input's own grid, >= 0 (magnitude of relevance)
    probabilities: np.ndarray  # N x classes
    targets: np.ndarray  # N, the class each map explains


def attribute(
    model: nn.Module, transform: BatchTransform, images_u8: torch.Tensor, method: str = "saliency",
    targets: torch.Tensor | None = None, chunk: int = 64,
) -> Attribution:  # fmt: skip
    """Maps for uint8 images (N x 1 x H x W at the decoded size), explaining `targets` (default: the predicted
    class). Values are relevance magnitudes, so maps of different models compare on one scale after
    normalising each to sum 1."""
    from captum.attr import IntegratedGradients, LayerGradCam, Occlusion, Saliency

    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if len(images_u8) > chunk:  # bounded memory for a whole test split: integrated gradients makes 32 copies
        parts = [attribute(model, transform, images_u8[i : i + chunk], method,
                           None if targets is None else targets[i : i + chunk], chunk)
                 for i in range(0, len(images_u8), chunk)]  # fmt: skip
        return Attribution(
            *(np.concatenate([getattr(p, f) for p in parts]) for f in ("maps", "probabilities", "targets"))
        )
    model.eval()
    net = OnOwnGrid(model, transform).eval()
    x = images_u8.float() / 255.0
    with torch.no_grad():
        probs = torch.softmax(net(x), 1)
    target = probs.argmax(1) if targets is None else targets
    x = x.clone().requires_grad_(True)
    if method == "saliency":
        maps = Saliency(net).attribute(x, target=target, abs=True)
    elif method == "integrated-gradients":
        maps = IntegratedGradients(net).attribute(x, baselines=torch.zeros_like(x), target=target, n_steps=32,
                                                  internal_batch_size=max(len(x), 256)).abs()  # fmt: skip
    elif method == "occlusion":
        side = x.shape[-1]
        window = max(2, side // 7)
        maps = Occlusion(net).attribute(x, sliding_window_shapes=(1, window, window),
                                        strides=(1, max(1, window // 2), max(1, window // 2)), target=target,
                                        baselines=0.0, perturbations_per_eval=max(1, 256 // len(x))
                                        ).clamp(min=0)  # fmt: skip
    else:
        cam = LayerGradCam(net, last_stage(model)).attribute(x, target=target, relu_attributions=True)
        maps = net.on_grid(cam, x.shape)
    return Attribution(maps.detach()[:, 0].numpy(), probs.numpy(), target.numpy())


def normalised(maps: np.ndarray) -> np.ndarray:
    """Each map scaled to sum 1 (a share of relevance per pixel); an all-zero map stays zero."""
    total = maps.reshape(len(maps), -1).sum(1).reshape(-1, 1, 1)
    return np.divide(maps, total, out=np.zeros_like(maps), where=total > 0)


def deletion_drops(
    model: nn.Module, transform: BatchTransform, images_u8: torch.Tensor, labels: torch.Tensor, maps: np.ndarray,
    share: float = 0.1, fill: int = 0, seed: int = 0,
) -> tuple[float, float]:  # fmt: skip
    """Faithfulness: the mean drop of the true class's probability when the `share` most-attributed pixels are
    set to `fill`, and when as many random pixels are (a map that means something drops more)."""
    net = OnOwnGrid(model, transform).eval()
    n, _, h, w = images_u8.shape
    k = int(round(share * h * w))
    flat = torch.from_numpy(maps.reshape(n, -1))
    top = flat.argsort(1, descending=True)[:, :k]
    g = torch.Generator().manual_seed(seed)
    random = torch.stack([torch.randperm(h * w, generator=g)[:k] for _ in range(n)])

    def true_probability(pixels: torch.Tensor | None) -> torch.Tensor:
        x = images_u8.float().reshape(n, -1) / 255.0
        if pixels is not None:
            x = x.scatter(1, pixels, fill / 255.0)
        with torch.no_grad():
            p = torch.softmax(net(x.reshape(n, 1, h, w)), 1)
        return p[torch.arange(n), labels]

    base = true_probability(None)
    return float((base - true_probability(top)).mean()), float((base - true_probability(random)).mean())


def morans_i(maps: np.ndarray) -> np.ndarray:
    """Moran's I of each map with 4-neighbour weights: near 1 when relevance comes in patches of neighbouring
    pixels, near 0 when neighbours are no more alike than any two pixels (a spatial autocorrelation)."""
    z = maps - maps.mean(axis=(1, 2), keepdims=True)
    pairs = (z[:, 1:, :] * z[:, :-1, :]).sum(axis=(1, 2)) + (z[:, :, 1:] * z[:, :, :-1]).sum(axis=(1, 2))
    h, w = maps.shape[1:]
    weights = 2 * ((h - 1) * w + h * (w - 1))  # each neighbour pair counted both ways
    var = (z**2).sum(axis=(1, 2))
    return np.divide(h * w * 2 * pairs, weights * var, out=np.zeros(len(maps)), where=var > 0)


def ink_share(maps: np.ndarray, images_u8: torch.Tensor, level: int = 128) -> np.ndarray:
    """The share of each (normalised) map that lies on the glyph's ink (pixels brighter than `level`)."""
    ink = images_u8[:, 0].numpy() > level
    return (normalised(maps) * ink).sum(axis=(1, 2))


def overlay(image_u8: np.ndarray, relevance: np.ndarray, scale: int = 8) -> np.ndarray:
    """An RGB picture: the gray image enlarged, the relevance map over it in a heat colour map (brighter and
    warmer = relied on more)."""
    import cv2

    side = image_u8.shape[0] * scale
    gray = cv2.resize(image_u8, (side, side), interpolation=cv2.INTER_NEAREST)
    top = relevance.max()
    heat = np.zeros_like(relevance, dtype=np.uint8) if top <= 0 else (255 * relevance / top).astype(np.uint8)
    heat = cv2.resize(heat, (side, side), interpolation=cv2.INTER_NEAREST)
    coloured = cv2.cvtColor(cv2.applyColorMap(heat, cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)
    base = cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB)
    return cv2.addWeighted(base, 0.45, coloured, 0.55, 0)


# The eye band and the mouth of FER-2013's aligned 48x48 faces, as (top, bottom, left, right) pixel bounds: read
# off the test split's mean face (eyes at rows 15-21, brows just above; the mouth at rows 36-41) with a margin.
FACE_REGIONS = {"eyes": (12, 24, 6, 42), "mouth": (32, 44, 13, 35)}


def region_shares(maps: np.ndarray, regions: dict[str, tuple[int, int, int, int]], side: int = 48) -> dict:
    """Per map, the share of its (normalised) relevance inside each region; regions are given on a side x side
    face and scaled to the maps' own size."""
    h, w = maps.shape[1:]
    shares = normalised(maps)
    out = {}
    for name, (top, bottom, left, right) in regions.items():
        rows = slice(round(top * h / side), round(bottom * h / side))
        cols = slice(round(left * w / side), round(right * w / side))
        out[name] = shares[:, rows, cols].sum(axis=(1, 2))
    return out


def region_area(region: tuple[int, int, int, int], side: int = 48, crop: float = 1.0) -> float:
    """The share of what the model sees (the face's centre `crop`, `centre_crop`) that a region covers: what a
    map that is flat over it would put there."""
    margin = crop_margin(side, crop)
    top, bottom, left, right = (min(max(v, margin), side - margin) for v in region)
    return (bottom - top) * (right - left) / (side - 2 * margin) ** 2


class FaceCam:
    """Grad-CAM of the largest face for the live video, at a reduced rate so the webcam keeps its frame rate: at
    most one map every `interval` seconds, drawn on every frame inside the face's current box. It works on a
    private copy of the model (Captum hooks into the model it explains; the shared one is left alone)."""

    def __init__(self, model: nn.Module, transform: BatchTransform, classes: list[str], interval: float = 0.5):
        from captum.attr import LayerGradCam

        private = copy.deepcopy(model).float().eval()
        self.net = OnOwnGrid(private, transform).eval()
        self.cam = LayerGradCam(self.net, last_stage(private))
        self.classes = classes
        self.interval = interval
        self.heat: np.ndarray | None = None  # uint8, on the crop's grid
        self._last = -float("inf")

    def update(self, crop_u8: np.ndarray, label: str, now: float) -> bool:
        """A new map for this face crop (decoded size) explaining `label`, if one is due; True when made."""
        if now - self._last < self.interval:
            return False
        self._last = now
        x = torch.from_numpy(np.array(crop_u8, dtype=np.float32))[None, None] / 255.0
        target = self.classes.index(label)
        cam = self.cam.attribute(x.requires_grad_(True), target=target, relu_attributions=True)
        cam = self.net.on_grid(cam, x.shape)[0, 0].detach()
        top = float(cam.max())
        self.heat = np.zeros(cam.shape, np.uint8) if top <= 0 else (255 * cam / top).numpy().astype(np.uint8)
        return True

    def draw(self, frame_bgr: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        """The frame with the latest map blended into `box` (a copy; the frame itself if there is no map yet)."""
        import cv2

        if self.heat is None:
            return frame_bgr
        x, y, w, h = box
        x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, frame_bgr.shape[1]), min(y + h, frame_bgr.shape[0])
        if x1 <= x0 or y1 <= y0:
            return frame_bgr
        heat = cv2.applyColorMap(cv2.resize(self.heat, (w, h), interpolation=cv2.INTER_LINEAR), cv2.COLORMAP_INFERNO)
        out = frame_bgr.copy()
        patch = heat[y0 - y : y1 - y, x0 - x : x1 - x]
        out[y0:y1, x0:x1] = cv2.addWeighted(out[y0:y1, x0:x1], 0.5, patch, 0.5, 0)
        return out

    def on_frame(self, frame_bgr: np.ndarray, faces: list, prepare: Callable[[np.ndarray], np.ndarray],
                 now: float) -> np.ndarray:  # fmt: skip
        """The frame with the largest face's map in its box (a map made now if one is due); faces are
        core.inference.emotions.Face, `prepare` the detector's crop -> model image."""
        if not faces:
            return frame_bgr
        face = max(faces, key=lambda f: f.box[2] * f.box[3])
        x, y, w, h = face.box
        if now - self._last >= self.interval:  # due (always before the first map): crop only then
            from .faces import to_gray

            gray = to_gray(frame_bgr, "bgr")  # as the detector's crops are taken
            self.update(prepare(gray[y : y + h, x : x + w]), face.label, now)
        return self.draw(frame_bgr, face.box)
