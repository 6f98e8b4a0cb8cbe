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

:func:`exp` serves the built-in models; :func:`through_numpy` makes the
same for any numpy function (the functions of user-written equations), and
:func:`power` does it for ``a ** b``.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch


def _numpy_path(*xs) -> bool:
    """Whether the arguments are evaluated by numpy: float64 CPU tensors."""
    tensors = [x for x in xs if isinstance(x, torch.Tensor)]
    return bool(tensors) and all(x.dtype == torch.float64 and x.device.type == "cpu" for x in tensors)


def _as_numpy(x):
    # a fresh output array, as Brian2's generated code gets: numpy takes its SIMD path only
    # when input and output do not overlap, so the same arguments give the same bits
    return x.detach().numpy() if isinstance(x, torch.Tensor) else x


def through_numpy(np_func: Callable, torch_func: Callable, derivative: Callable) -> Callable:
    """A unary function on tensors that is computed by ``np_func`` for
    float64 CPU tensors and by ``torch_func`` otherwise; ``derivative(x, y)``
    gives dy/dx in torch operations (differentiable again)."""

    class _Function(torch.autograd.Function):
        @staticmethod
        def forward(x):
            return torch.from_numpy(np.asarray(np_func(_as_numpy(x)), dtype=np.float64))

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(inputs[0], output)

        @staticmethod
        def backward(ctx, grad):
            x, y = ctx.saved_tensors
            return grad * derivative(x, y)

    def function(x):
        if isinstance(x, torch.Tensor) and _numpy_path(x):
            return _Function.apply(x)
        return torch_func(x) if isinstance(x, torch.Tensor) else np_func(x)

    function.__name__ = getattr(np_func, "__name__", "function")
    return function


class _NumpyPower(torch.autograd.Function):
    """``a ** b`` computed by numpy's power operator (float64 CPU tensors or numbers)."""

    @staticmethod
    def forward(a, b):
        return torch.from_numpy(np.asarray(_as_numpy(a) ** _as_numpy(b), dtype=np.float64))

    @staticmethod
    def setup_context(ctx, inputs, output):
        a, b = inputs
        ctx.save_for_backward(*(x if isinstance(x, torch.Tensor) else torch.tensor(float(x), dtype=torch.float64)
                                for x in (a, b)), output)
        ctx.tensors = tuple(isinstance(x, torch.Tensor) for x in (a, b))

    @staticmethod
    def backward(ctx, grad):
        a, b, y = ctx.saved_tensors
        da = grad * b * power(a, b - 1) if ctx.tensors[0] else None
        db = grad * y * torch.log(a) if ctx.tensors[1] else None
        return _unbroadcast(da, a, ctx.tensors[0]), _unbroadcast(db, b, ctx.tensors[1])


def _unbroadcast(grad, like, is_tensor):
    if not is_tensor or grad is None:
        return None
    while grad.dim() > like.dim():
        grad = grad.sum(0)
    for axis, size in enumerate(like.shape):
        if size == 1 and grad.shape[axis] != 1:
            grad = grad.sum(axis, keepdim=True)
    return grad


def power(a, b):
    """``a ** b``: numpy's power operator for float64 CPU tensors (its fast
    paths for squares and square roots included), torch's otherwise."""
    if _numpy_path(a, b):
        return _NumpyPower.apply(a, b)
    return a ** b


exp = through_numpy(np.exp, torch.exp, lambda x, y: y)
exp.__doc__ = "``exp(x)``, elementwise: numpy's in float64 on the CPU, torch's otherwise."
