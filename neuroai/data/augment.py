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
    if not isinstance(images, torch.Tensor) or images.ndim not in (3, 4) or not images.is_floating_point() \
            or images.numel() == 0:
        got = (f"{images.dtype} of shape {tuple(images.shape)}" if isinstance(images, torch.Tensor)
               else type(images).__name__)
        raise ValueError(f"{owner}: images must be a float tensor of shape (batch, [channels,] height, width), "
                         f"none of them 0, got {got}")
    if not bool(torch.isfinite(images).all()):
        raise ValueError(f"{owner}: images must be finite, got NaN or inf pixels")
    return (images.unsqueeze(1), True) if images.ndim == 3 else (images, False)


def _generator(owner: str, generator):
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"{owner}: parameter 'generator' must be a torch.Generator or None, "
                        f"got {type(generator).__name__}")
    return generator


class RandomAffine:
    """Random rotation (degrees), translation (fraction of the size) and
    scaling of each image, bilinear, zeros outside."""

    def __init__(self, degrees: float = 10.0, translate: float = 0.1, scale: tuple[float, float] = (0.9, 1.1),
                 generator: torch.Generator | None = None):
        owner = "RandomAffine"
        self.degrees = check.real(owner, "degrees", degrees, nonnegative=True)
        if self.degrees > 180:
            raise ValueError(f"{owner}: parameter 'degrees' must be in [0, 180] (every rotation), got {degrees!r}")
        self.translate = check.real(owner, "translate", translate, nonnegative=True)
        if self.translate > 1:
            raise ValueError(f"{owner}: parameter 'translate' must be in [0, 1] (a fraction of the size), "
                             f"got {translate!r}")
        self.scale = check.interval(owner, "scale", scale, positive=True)
        self.generator = _generator(owner, generator)

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
        self.clip = None if clip is None else check.interval("AddNoise", "clip", clip)
        self.generator = _generator("AddNoise", generator)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        _as_nchw(images, "AddNoise")
        noise = torch.randn(images.shape, generator=self.generator, dtype=images.dtype).to(images.device)
        out = images + self.std * noise
        if self.clip is not None:   # (bounds beyond the dtype's range clip nothing, and would not fit in it)
            info = torch.finfo(out.dtype)
            return out.clamp(*(min(max(c, info.min), info.max) for c in self.clip))
        if not bool(torch.isfinite(out).all()):
            raise ValueError(f"AddNoise: parameter 'std' ({self.std:g}) must be small enough for the noisy pixels to "
                             f"stay finite in {images.dtype}; some overflowed (give 'clip', or a smaller std)")
        return out


class Cutout:
    """Zero one random square of side ``size`` pixels per image (DeVries & Taylor 2017)."""

    def __init__(self, size: int = 3, generator: torch.Generator | None = None):
        self.size = check.integer("Cutout", "size", size, minimum=1)
        self.generator = _generator("Cutout", generator)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        x, squeezed = _as_nchw(images, "Cutout")
        n, _, h, w = x.shape
        cy = torch.randint(0, h, (n,), generator=self.generator).to(x.device)
        cx = torch.randint(0, w, (n,), generator=self.generator).to(x.device)
        rows, cols = torch.arange(h, device=x.device), torch.arange(w, device=x.device)
        size = min(self.size, 2 * max(h, w))   # (a square that large covers every image already)
        half = size // 2
        inside_y = (rows[None, :] >= (cy - half)[:, None]) & (rows[None, :] < (cy - half + size)[:, None])
        inside_x = (cols[None, :] >= (cx - half)[:, None]) & (cols[None, :] < (cx - half + size)[:, None])
        mask = (inside_y[:, :, None] & inside_x[:, None, :]).unsqueeze(1)  # (n, 1, h, w)
        out = x.masked_fill(mask, 0.0)
        return out.squeeze(1) if squeezed else out
