"""Transcendental functions of the torch backend, bit for bit with Brian2.

The last bits of a vectorized ``exp`` depend on the library and on the
instruction set: numpy and torch each carry their own SIMD implementations
(AVX2, AVX-512, NEON, or the C library's scalar ``exp`` where none applies),
and they round differently once in a few thousand arguments. Brian2's numpy
target evaluates ``exp`` with numpy's ufunc, so on the CPU in float64 (the
parity mode) the torch backend evaluates state-dependent transcendental
functions with that very ufunc: both backends then agree bit for bit on any
CPU, whichever instruction set numpy dispatches to. Gradients flow through a
custom autograd function (also to second order). float32 and tensors on an
accelerator use torch's own kernels, for speed.
"""
from __future__ import annotations

import numpy as np
import torch


class _NumpyExp(torch.autograd.Function):
    """``exp`` of a float64 CPU tensor, computed by ``numpy.exp``."""

    @staticmethod
    def forward(x: torch.Tensor) -> torch.Tensor:
        # a fresh output array, as Brian2's generated code gets: numpy takes its SIMD path
        # only when input and output do not overlap, so the same arguments give the same bits
        return torch.from_numpy(np.asarray(np.exp(x.detach().numpy())))

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (out,) = ctx.saved_tensors
        return grad * out


def exp(x: torch.Tensor) -> torch.Tensor:
    """``exp(x)``, elementwise: numpy's in float64 on the CPU, torch's otherwise."""
    if x.dtype == torch.float64 and x.device.type == "cpu":
        return _NumpyExp.apply(x)
    return torch.exp(x)
