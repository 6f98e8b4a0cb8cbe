"""Distorted digits, following the protocol of Jaderberg et al. (2015), generated from a seed.

Every function takes images ``(n, S, S)`` in [0, 1] (numpy or torch; digits
or MNIST) and returns a float32 tensor of distorted images, each drawn with
its own random transformation from a ``torch.Generator`` seeded by ``seed``
(the same seed gives the same images). Sizes follow the paper's MNIST
settings, scaled with ``S`` (28 for MNIST, 8 for scikit-learn's digits):

- **R** :func:`rotate`: rotation uniform in [-90, 90] degrees, same size.
- **RTS** :func:`rotate_translate_scale`: rotation in [-45, 45] degrees,
  scale in [0.7, 1.2], placed at a random position of a ``1.5 S`` canvas
  (42x42 for MNIST).
- **P** :func:`projective`: a random projective transformation: the corners
  perturbed by Gaussian noise (std 0.1 of the side) after a random zoom-out
  (scale in [0.75, 1]), same size.
- **TC** :func:`translated_cluttered`: the digit at a random position of a
  ``60/28 S`` canvas (60x60 for MNIST) with 6 pieces of clutter, random
  ``6/28 S`` squares cut from other random digits, placed at random (pixel
  maximum where they overlap).

Images are resampled bilinearly (``grid_sample``), zero outside the source.
"""
from __future__ import annotations

import torch
from torch.nn import functional as F

from .. import validation as check

DISTORTIONS = ("R", "RTS", "P", "TC")


def _images(owner: str, images) -> torch.Tensor:
    if isinstance(images, torch.Tensor):
        if images.dtype == torch.bool or images.is_complex():
            raise TypeError(f"{owner}: parameter 'images' must be a real array, got a {images.dtype} tensor")
        x = images.detach()
    else:
        x = torch.as_tensor(check.reals(owner, "images", images, finite=False))
    if x.dim() != 3 or x.shape[1] != x.shape[2] or x.numel() == 0:
        raise ValueError(f"{owner}: parameter 'images' must have shape (n, S, S) with n, S >= 1, "
                         f"got {tuple(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{owner}: parameter 'images' must be finite everywhere, got NaN or inf pixels")
    return x.float()


def _angle(owner: str, max_angle) -> float:
    max_angle = check.real(owner, "max_angle", max_angle, nonnegative=True)
    if max_angle > 180:
        raise ValueError(f"{owner}: parameter 'max_angle' must be in [0, 180] degrees (every rotation), "
                         f"got {max_angle!r}")
    return max_angle


def _canvas(owner: str, canvas, n: int) -> None:
    """Fail at once if ``n`` images on a ``canvas`` square (with their sampling grids) would not fit in memory."""
    check.memory(owner, 16.0 * n * canvas * canvas, f"{n} images of {canvas} x {canvas} pixels",
                 "use a smaller 'canvas'")


def _uniform(n: int, low: float, high: float, g: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=g)


def _resample(x: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    return F.grid_sample(x.unsqueeze(1), grid, mode="bilinear", padding_mode="zeros", align_corners=False).squeeze(1)


def _similarity(angle: torch.Tensor, zoom: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """``(n, 2, 3)`` matrices mapping output to input coordinates: ``zoom R(angle) (u - shift)``."""
    cos, sin = angle.cos() * zoom, angle.sin() * zoom
    rotation = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)
    return torch.cat([rotation, -(rotation @ shift.unsqueeze(-1))], dim=-1)


def rotate(images, seed: int = 0, max_angle: float = 90.0) -> torch.Tensor:
    """R: each image rotated about its centre by an angle uniform in ``[-max_angle, max_angle]`` degrees."""
    x = _images("rotate", images)
    max_angle = _angle("rotate", max_angle)
    g = torch.Generator().manual_seed(check.seed("rotate", seed))
    angle = torch.deg2rad(_uniform(len(x), -max_angle, max_angle, g))
    theta = _similarity(angle, torch.ones(len(x)), torch.zeros(len(x), 2))
    return _resample(x, F.affine_grid(theta, [len(x), 1, *x.shape[1:]], align_corners=False))


def rotate_translate_scale(images, seed: int = 0, canvas: int | None = None, max_angle: float = 45.0,
                           scale: tuple[float, float] = (0.7, 1.2)) -> torch.Tensor:
    """RTS: rotated, scaled and placed at random on a ``canvas`` (default ``1.5 S``) square canvas."""
    owner = "rotate_translate_scale"
    x = _images(owner, images)
    side = x.shape[-1]
    canvas = check.integer(owner, "canvas", canvas, minimum=side) if canvas is not None else round(1.5 * side)
    max_angle, scale = _angle(owner, max_angle), check.interval(owner, "scale", scale, positive=True)
    g = torch.Generator().manual_seed(check.seed(owner, seed))
    n = len(x)
    _canvas(owner, canvas, n)
    angle = torch.deg2rad(_uniform(n, -max_angle, max_angle, g))
    s = _uniform(n, *scale, g)
    extent = s * side / canvas                       # the digit's half-width in canvas units, over 1
    room = (1 - extent).clamp_min(0)
    shift = (2 * torch.rand(n, 2, generator=g) - 1) * room.unsqueeze(1)
    theta = _similarity(-angle, 1 / extent, shift)
    return _resample(x, F.affine_grid(theta, [n, 1, canvas, canvas], align_corners=False))


def _homographies(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``(n, 3, 3)`` homographies mapping the 4 ``source`` corners (4, 2) to ``target`` (n, 4, 2)."""
    n = len(target)
    u, v = source[:, 0].expand(n, 4), source[:, 1].expand(n, 4)
    x, y = target[..., 0], target[..., 1]
    zeros, ones = torch.zeros_like(u), torch.ones_like(u)
    rows_x = torch.stack([u, v, ones, zeros, zeros, zeros, -u * x, -v * x], -1)
    rows_y = torch.stack([zeros, zeros, zeros, u, v, ones, -u * y, -v * y], -1)
    a = torch.cat([rows_x, rows_y], dim=1)          # (n, 8, 8)
    b = torch.cat([x, y], dim=1).unsqueeze(-1)      # (n, 8, 1)
    h = torch.linalg.solve(a.double(), b.double()).squeeze(-1).float()
    return torch.cat([h, torch.ones(n, 1)], dim=1).view(n, 3, 3)


def projective(images, seed: int = 0, noise: float = 0.1, scale: tuple[float, float] = (0.75, 1.0)) -> torch.Tensor:
    """P: a random perspective warp: the image zoomed out by ``scale`` and its corners moved by
    Gaussian noise of std ``noise`` (fraction of the side)."""
    x = _images("projective", images)
    noise = check.real("projective", "noise", noise, nonnegative=True)
    if noise > 1:
        raise ValueError(f"projective: parameter 'noise' must be in [0, 1] (a fraction of the side), got {noise!r}")
    scale = check.interval("projective", "scale", scale, positive=True)
    g = torch.Generator().manual_seed(check.seed("projective", seed))
    n, side = len(x), x.shape[-1]
    corners = torch.tensor([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]])
    s = _uniform(n, *scale, g).view(n, 1, 1)
    moved = corners * s + 2 * noise * torch.randn(n, 4, 2, generator=g)   # where the image corners land
    to_input = torch.linalg.inv(_homographies(corners, moved))            # output -> input coordinates
    ticks = (torch.arange(side) + 0.5) / side * 2 - 1
    v, u = torch.meshgrid(ticks, ticks, indexing="ij")
    points = torch.stack([u, v, torch.ones_like(u)], -1).view(1, -1, 3)   # (1, S*S, 3)
    mapped = points @ to_input.transpose(1, 2)                            # (n, S*S, 3)
    grid = (mapped[..., :2] / mapped[..., 2:]).view(n, side, side, 2)
    grid = torch.nan_to_num(grid, nan=2.0, posinf=2.0, neginf=-2.0)   # points sent to infinity: outside, zero
    return _resample(x, grid)


def translated_cluttered(images, seed: int = 0, canvas: int | None = None, pieces: int = 6,
                         piece_size: int | None = None) -> torch.Tensor:
    """TC: each digit at a random position of a ``canvas`` (default ``60/28 S``) square with
    ``pieces`` squares of ``piece_size`` (default ``6/28 S``) cut from other random digits."""
    owner = "translated_cluttered"
    x = _images(owner, images)
    n, side = len(x), x.shape[-1]
    canvas = check.integer(owner, "canvas", canvas, minimum=side) if canvas is not None \
        else round(60 / 28 * side)
    piece = check.integer(owner, "piece_size", piece_size, minimum=1) if piece_size is not None \
        else max(1, round(6 / 28 * side))
    if piece > side:
        raise ValueError(f"{owner}: parameter 'piece_size' must be at most the images' side {side}, got {piece}")
    pieces = check.integer(owner, "pieces", pieces, minimum=0)
    _canvas(owner, canvas, n)
    g = torch.Generator().manual_seed(check.seed(owner, seed))
    out = torch.zeros(n, canvas, canvas)
    batch = torch.arange(n).view(n, 1, 1)

    def paste(patch: torch.Tensor, size: int) -> None:
        top, left = (torch.randint(0, canvas - size + 1, (2, n), generator=g))
        rows = (top.view(n, 1) + torch.arange(size)).view(n, size, 1)
        cols = (left.view(n, 1) + torch.arange(size)).view(n, 1, size)
        out[batch, rows, cols] = torch.maximum(out[batch, rows, cols], patch)

    for _ in range(pieces):
        source = torch.randint(0, n, (n,), generator=g)
        top, left = torch.randint(0, side - piece + 1, (2, n), generator=g)
        rows = (top.view(n, 1) + torch.arange(piece)).view(n, piece, 1)
        cols = (left.view(n, 1) + torch.arange(piece)).view(n, 1, piece)
        paste(x[source.view(n, 1, 1), rows, cols], piece)
    paste(x, side)
    return out


def distort(images, kind: str, seed: int = 0) -> torch.Tensor:
    """Apply distortion ``kind`` (one of :data:`DISTORTIONS`) with the paper's settings."""
    kind = check.choice("distort", "kind", kind, DISTORTIONS)
    return {"R": rotate, "RTS": rotate_translate_scale, "P": projective, "TC": translated_cluttered}[kind](
        images, seed=seed)


