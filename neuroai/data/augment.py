"""Image augmentation as transforms on batches.

Each transform is called on a float tensor of images of shape
(batch, height, width) or (batch, channels, height, width) and returns a
new tensor of the same shape. Randomness comes from the ``generator``
given at construction (a seeded ``torch.Generator``), so augmentation is
reproducible.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .. import validation as check


def _as_nchw(images: torch.Tensor, owner: str) -> tuple[torch.Tensor, bool]:
    if not isinstance(images, torch.Tensor) or images.ndim not in (3, 4) or not images.is_floating_point():
        got = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"{owner}: images must be a float tensor of shape (batch, [channels,] height, width), "
                         f"got {got}")
    return (images.unsqueeze(1), True) if images.ndim == 3 else (images, False)


class RandomAffine:
    """Random rotation (degrees), translation (fraction of the size) and
    scaling of each image, bilinear, zeros outside."""

    def __init__(self, degrees: float = 10.0, translate: float = 0.1, scale: tuple[float, float] = (0.9, 1.1),
                 generator: torch.Generator | None = None):
        self.degrees = check.real("RandomAffine", "degrees", degrees, nonnegative=True)
        self.translate = check.real("RandomAffine", "translate", translate, nonnegative=True)
        low, high = (check.real("RandomAffine", "scale", s, positive=True) for s in scale)
        if high < low:
            raise ValueError(f"RandomAffine: 'scale' must be (low, high) with low <= high, got {scale}")
        self.scale, self.generator = (low, high), generator

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        x, squeezed = _as_nchw(images, "RandomAffine")
        n, g = x.shape[0], self.generator

        def uniform(low, high):
            return low + (high - low) * torch.rand(n, generator=g, dtype=x.dtype).to(x.device)

        angle = uniform(-self.degrees, self.degrees) * (math.pi / 180)
        zoom = uniform(*self.scale)
        shift = torch.stack([uniform(-self.translate, self.translate) * 2 for _ in range(2)], dim=1)
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
        theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        return out.squeeze(1) if squeezed else out


class AddNoise:
    """Additive Gaussian pixel noise of standard deviation ``std``, clipped to ``clip`` (or not, when None)."""

    def __init__(self, std: float = 0.1, clip: tuple[float, float] | None = (0.0, 1.0),
                 generator: torch.Generator | None = None):
        self.std = check.real("AddNoise", "std", std, nonnegative=True)
        self.clip, self.generator = clip, generator

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        _as_nchw(images, "AddNoise")
        noise = torch.randn(images.shape, generator=self.generator, dtype=images.dtype).to(images.device)
        out = images + self.std * noise
        return out if self.clip is None else out.clamp(*self.clip)


class Cutout:
    """Zero one random square of side ``size`` pixels per image (DeVries & Taylor 2017)."""

    def __init__(self, size: int = 3, generator: torch.Generator | None = None):
        self.size = check.integer("Cutout", "size", size, minimum=1)
        self.generator = generator

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        x, squeezed = _as_nchw(images, "Cutout")
        n, _, h, w = x.shape
        cy = torch.randint(0, h, (n,), generator=self.generator).to(x.device)
        cx = torch.randint(0, w, (n,), generator=self.generator).to(x.device)
        rows, cols = torch.arange(h, device=x.device), torch.arange(w, device=x.device)
        half = self.size // 2
        inside_y = (rows[None, :] >= (cy - half)[:, None]) & (rows[None, :] < (cy - half + self.size)[:, None])
        inside_x = (cols[None, :] >= (cx - half)[:, None]) & (cols[None, :] < (cx - half + self.size)[:, None])
        mask = (inside_y[:, :, None] & inside_x[:, None, :]).unsqueeze(1)  # (n, 1, h, w)
        out = x.masked_fill(mask, 0.0)
        return out.squeeze(1) if squeezed else out
