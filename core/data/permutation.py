"""A fixed random permutation of pixel positions, drawn from a seed."""

import torch


def make_permutation(seed: int, num_pixels: int = 28 * 28) -> torch.Tensor:
    """Output pixel i takes its value from input pixel perm[i]; the same seed gives the same permutation."""
    return torch.randperm(num_pixels, generator=torch.Generator().manual_seed(seed))


def permute_pixels(images: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
    """Apply a permutation to the last two (spatial) dimensions of N x C x H x W images."""
    flat = images.flatten(-2)
    return flat[..., perm].reshape(images.shape)


def inverse_permutation(perm: torch.Tensor) -> torch.Tensor:
    inverse = torch.empty_like(perm)
    inverse[perm] = torch.arange(len(perm))
    return inverse
