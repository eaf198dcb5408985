"""Test-time augmentation for faces: the logits of several views of each face, averaged.

`flip`: the face and its mirror image (2 views). `ten-crop`: the four corner crops and the centre crop, each
keeping TEN_CROP_SHARE of the side (the share the training crops keep on average), and their mirror images
(10 views), each then prepared as a whole face is (the run's evaluation transform: its `eval_crop`, the resize).
The published FER-2013 figures of 73 % and more are ten-crop figures; a single crop is what the webcam runs.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ..config import TTA_METHODS
from ..data.transforms import centre_crop, crop_margin
from .modes import Mode
from .runtime import predict_logits

TEN_CROP_SHARE = 0.875  # between the training crops' 0.85 and the whole face
# Small batches: on 2 CPU cores MobileNetV2 at 96 px ran 285 images/s in batches of 32, 157 in batches of 256.
BATCH = 32


def crops(images: torch.Tensor, share: float = TEN_CROP_SHARE) -> list[torch.Tensor]:
    """The four corner crops and the centre crop of N x 1 x h x w images (views, not copies), each the size of
    `centre_crop`'s at this share."""
    h, w = images.shape[-2:]
    top, left = crop_margin(h, share), crop_margin(w, share)
    ch, cw = h - 2 * top, w - 2 * left
    corners = [(0, 0), (0, w - cw), (h - ch, 0), (h - ch, w - cw)]
    return [images[..., y : y + ch, x : x + cw] for y, x in corners] + [centre_crop(images, share)]


View = Callable[[torch.Tensor], torch.Tensor]


def _crop(i: int) -> View:
    return lambda x: crops(x)[i].contiguous()


def _mirrored(view: View) -> View:
    return lambda x: view(x).flip(-1)


def views(method: str) -> list[View]:
    """How each view is cut from a uint8 batch, before the model's own evaluation transform."""
    if method not in TTA_METHODS:
        raise ValueError(f"unknown test-time augmentation {method!r}; choose one of {', '.join(TTA_METHODS)}")
    whole: View = lambda x: x  # noqa: E731
    if method == "none":
        return [whole]
    if method == "flip":
        return [whole, _mirrored(whole)]
    cut = [_crop(i) for i in range(5)]
    return cut + [_mirrored(c) for c in cut]


def tta_logits(
    model: nn.Module,
    images_u8: torch.Tensor,
    transform: Callable[[torch.Tensor], torch.Tensor],
    mode: Mode,
    method: str = "flip",
) -> torch.Tensor:
    """The mean logits over the method's views of each image (`transform`: the model's evaluation transform)."""
    each = views(method)
    total = sum(predict_logits(model, images_u8, _then(view, transform), mode, BATCH) for view in each)
    assert isinstance(total, torch.Tensor)
    return total / len(each)


def _then(view: View, transform: View) -> View:
    return lambda x: transform(view(x))
