"""Spatial Transformer Networks (Jaderberg et al. 2015).

A :class:`SpatialTransformer` looks at its input, regresses the parameters
of a transformation with a *localization network*, and resamples the input
through it: a grid of output pixel coordinates ``G`` (normalized to
``[-1, 1]``) is mapped to input coordinates ``A_theta G`` (the grid
generator, ``torch.nn.functional.affine_grid``) and the input is read there
by bilinear interpolation (the sampler, ``grid_sample``). Everything is
differentiable, so the localization network learns from the loss of
whatever comes after, with no supervision of the transformation itself.

Transformation families (``theta`` is the 2x3 matrix mapping output to
input coordinates):

- ``"affine"``: 6 free parameters;
- ``"translation"``: ``[[1, 0, tx], [0, 1, ty]]``;
- ``"rotation_scale_translation"``: ``s R(phi)`` plus ``(tx, ty)``, with
  ``s = exp(log_s)`` (4 parameters; a similarity transform);
- ``"attention"``: ``[[s, 0, tx], [0, s, ty]]``, isotropic zoom and shift
  (3 parameters), the attention variant of the paper.

The localization network's last layer starts at zero weights with the bias
of the identity, so an untrained transformer returns its input (up to
interpolation).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from .. import validation as check

TRANSFORMS = {"affine": 6, "translation": 2, "rotation_scale_translation": 4, "attention": 3}
_IDENTITY = {"affine": (1.0, 0.0, 0.0, 0.0, 1.0, 0.0), "translation": (0.0, 0.0),
             "rotation_scale_translation": (0.0, 0.0, 0.0, 0.0), "attention": (0.0, 0.0, 0.0)}


def theta_from_parameters(transform: str, params: torch.Tensor) -> torch.Tensor:
    """The ``(B, 2, 3)`` matrices of ``transform`` from its ``(B, k)`` parameters."""
    batch = params.shape[0]
    if transform == "affine":
        return params.view(batch, 2, 3)
    one, zero = params.new_ones(batch), params.new_zeros(batch)
    if transform == "translation":
        tx, ty = params.unbind(1)
        rows = [one, zero, tx, zero, one, ty]
    elif transform == "rotation_scale_translation":
        angle, log_scale, tx, ty = params.unbind(1)
        s = log_scale.exp()
        cos, sin = s * angle.cos(), s * angle.sin()
        rows = [cos, -sin, tx, sin, cos, ty]
    else:
        log_scale, tx, ty = params.unbind(1)
        s = log_scale.exp()
        rows = [s, zero, tx, zero, s, ty]
    return torch.stack(rows, dim=1).view(batch, 2, 3)


def warp(images: torch.Tensor, theta: torch.Tensor, size: Sequence[int] | None = None) -> torch.Tensor:
    """Resample ``images`` (B, C, H, W) through ``theta`` (B, 2, 3) onto a grid of ``size`` (H', W')
    (default: the input's), bilinearly, zeros outside the input."""
    out_h, out_w = size if size is not None else images.shape[-2:]
    grid = F.affine_grid(theta, [images.shape[0], images.shape[1], out_h, out_w], align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def localization_network(in_channels: int, size: Sequence[int], outputs: int, hidden: int = 32) -> nn.Sequential:
    """The default localization network: two conv-pool-ReLU stages then two linear layers for
    images of at least 20x20 pixels (as in PyTorch's STN tutorial), two linear layers for smaller
    ones; the last layer is left for :class:`SpatialTransformer` to initialize."""
    h, w = size
    if min(h, w) >= 20:
        features = nn.Sequential(nn.Conv2d(in_channels, 8, 7), nn.MaxPool2d(2), nn.ReLU(),
                                 nn.Conv2d(8, 10, 5), nn.MaxPool2d(2), nn.ReLU(), nn.Flatten())
        with torch.no_grad():
            width = features(torch.zeros(1, in_channels, h, w)).shape[1]
    else:
        features, width = nn.Flatten(), in_channels * h * w
    return nn.Sequential(features, nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, outputs))


def _pair(owner: str, name: str, value) -> tuple[int, int]:
    """``value``, a pair (H, W) of positive integers."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 2:
        raise ValueError(f"{owner}: parameter '{name}' must be a pair (H, W) of positive integers, got {value!r}")
    return tuple(check.integer(owner, name, s, minimum=1) for s in value)


class SpatialTransformer(nn.Module):
    """A spatial transformer module: ``(B, C, H, W) -> (B, C, H', W')``.

    Args:
        - in_channels, size: the input's channels and ``(H, W)``.
        - transform: one of :data:`TRANSFORMS` (see the module docstring).
        - out_size: ``(H', W')`` of the output (default ``size``; smaller crops,
          as the attention variant of the paper does).
        - localization: a module mapping the input to ``k`` parameters (its last
          layer must be an ``nn.Linear`` with ``k`` outputs); default
          :func:`localization_network`.
        - hidden: width of the default localization network.

    After each forward, ``last_theta`` holds the matrices used (B, 2, 3), detached.
    """

    def __init__(self, in_channels: int, size: Sequence[int], transform: str = "affine", *,
                 out_size: Sequence[int] | None = None, localization: nn.Module | None = None, hidden: int = 32):
        super().__init__()
        owner = "SpatialTransformer"
        self.transform = check.choice(owner, "transform", transform, tuple(TRANSFORMS))
        in_channels = check.integer(owner, "in_channels", in_channels, minimum=1)
        self.size = _pair(owner, "size", size)
        self.out_size = self.size if out_size is None else _pair(owner, "out_size", out_size)
        hidden = check.integer(owner, "hidden", hidden, minimum=1)
        pixels = in_channels * self.size[0] * self.size[1]
        check.memory(owner, 16.0 * pixels * (hidden + 10), f"a localization network for {pixels} input values",
                     "use smaller images or a smaller hidden width")
        if localization is not None and not isinstance(localization, nn.Module):
            raise TypeError(f"{owner}: parameter 'localization' must be a torch.nn.Module or None, "
                            f"got {type(localization).__name__}")
        self.in_channels = in_channels
        k = TRANSFORMS[transform]
        self.localization = (localization_network(in_channels, self.size, k, hidden) if localization is None
                             else localization)
        last = [m for m in self.localization.modules() if isinstance(m, nn.Linear)]
        if not last or last[-1].out_features != k:
            raise ValueError(f"{owner}: the localization network must end in an nn.Linear with {k} outputs "
                             f"(the parameters of {transform!r})")
        with torch.no_grad():
            last[-1].weight.zero_()
            last[-1].bias.copy_(torch.tensor(_IDENTITY[transform]))
        self.last_theta: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (B, C, H, W) resampled through the transformation its localization network regresses ->
        (B, C, H', W'); sets ``last_theta``."""
        if x.dim() != 4 or tuple(x.shape[1:]) != (self.in_channels, *self.size):
            raise ValueError(f"SpatialTransformer: expected input of shape (B, {self.in_channels}, "
                             f"{self.size[0]}, {self.size[1]}), got {tuple(x.shape)}")
        theta = theta_from_parameters(self.transform, self.localization(x))
        self.last_theta = theta.detach()
        return warp(x, theta, self.out_size)


class STClassifier(nn.Module):
    """A spatial transformer in front of any classifier: ``classifier(transformer(x))``."""

    def __init__(self, transformer: SpatialTransformer, classifier: nn.Module):
        super().__init__()
        self.transformer, self.classifier = transformer, classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (B, C, H, W) -> the classifier's output on the transformed images."""
        return self.classifier(self.transformer(x))
