"""Hessian-vector products of a model's loss with ``torch.func`` (forward-over-reverse).

``H v = d/dt grad L(theta + t v) |_{t=0}`` is computed per batch as
``jvp(grad(L_b), (theta,), (v,))``: one forward-mode pass through the
reverse-mode gradient, costing a small multiple of one gradient evaluation and
never forming ``H`` (``n x n``). Several vectors at once go through
``torch.func.vmap``. Some losses lack forward-mode derivatives of their
backward pass (``nn.MSELoss`` in torch 2.13 raises "ZeroTensors are
immutable"); for those the operator switches to reverse-over-forward,
``grad(theta -> jvp(L_b, (theta,), (v,))[1])``, the same ``H v`` for a
symmetric Hessian at about the same cost (``mode="auto"``).

Example::

    H = HessianOperator(model, nn.MSELoss(), (x, y))      # all parameters
    Hv = H.matvec(torch.randn(H.num_params))              # [n]
    H0 = HessianOperator(model, nn.MSELoss(), loader, params="0", num_batches=4)  # layer "0" only
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.func import grad, jvp, vmap

from .. import validation as check
from ._objective import LossFn, Objective, ParamSelection


class HessianOperator(Objective):
    """The Hessian of the mean batch loss as a linear operator on flat vectors.

    ``H = d^2 L / d theta^2`` with ``L`` and ``theta`` (shape ``[n]``, the
    selected parameters flattened in model order) as in :class:`Objective`;
    ``H`` is evaluated at the model's parameters when the operator is built
    (later changes to the model are not seen). The model's current mode is
    used as is: call ``model.eval()`` first for models with dropout or batch
    norm.

    Args:
        - model, loss_fn, data, params, num_batches: see :class:`Objective`.
        - mode: ``"forward-over-reverse"`` (``jvp(grad(L))``),
          ``"reverse-over-forward"`` (``grad(jvp(L))``) or ``"auto"``: the
          first, unless a trial product on the first batch raises a
          ``RuntimeError``, then the second. A model that ``torch.func``
          cannot transform at all (one using snnTorch's surrogate spike
          functions) is a ``TypeError`` in every mode, raised by that trial
          under ``"auto"`` (see :mod:`~neuroai.landscape._objective`).

    Attributes:
        - theta: the parameters where ``H`` is evaluated, shape ``[n]``.
        - mode: the mode in use.
    """

    MODES = ("auto", "forward-over-reverse", "reverse-over-forward")

    def __init__(self, model: nn.Module, loss_fn: LossFn, data: Any, *,
                 params: ParamSelection = None, num_batches: int | None = None, mode: str = "auto",
                 owner: str | None = None):
        check.choice(type(self).__name__ if owner is None else owner, "mode", mode, self.MODES)
        super().__init__(model, loss_fn, data, params=params, num_batches=num_batches, owner=owner)
        self.theta = self.flat_params()
        self.mode = mode
        if mode == "auto":
            self.mode = "forward-over-reverse"
            try:
                self._batch_hvp(self.batches[0])(torch.zeros_like(self.theta))
            except RuntimeError:
                self.mode = "reverse-over-forward"

    def _batch_hvp(self, batch: tuple[Tensor, Tensor]):
        def loss(th: Tensor) -> Tensor:
            return self.batch_loss(th, batch)

        if self.mode == "forward-over-reverse":
            def hvp(v: Tensor) -> Tensor:
                return jvp(grad(loss), (self.theta,), (v,))[1]
        else:
            def hvp(v: Tensor) -> Tensor:
                return grad(lambda th: jvp(loss, (th,), (v,))[1])(self.theta)
        return hvp

    def _check(self, v: Tensor, ndim: int) -> Tensor:
        if not isinstance(v, Tensor) or v.ndim != ndim or v.shape[-1] != self.num_params:
            want = "[n]" if ndim == 1 else "[m, n]"
            raise ValueError(f"{self.owner}: expected a tensor of shape {want} with n = {self.num_params}, "
                             f"got {tuple(v.shape) if isinstance(v, Tensor) else type(v).__name__}")
        if v.is_complex() or v.dtype == torch.bool:
            raise TypeError(f"{self.owner}: expected a real tensor, got dtype {v.dtype}")
        if not bool(torch.isfinite(v).all()):
            raise ValueError(f"{self.owner}: the vector must be finite, got one with NaN or inf")
        return v.to(self.device, self.dtype)

    def matvec(self, v: Tensor) -> Tensor:
        """``H v`` for one vector ``v`` of shape ``[n]``; returns ``[n]``."""
        v = self._check(v, 1)
        out = sum(self._batch_hvp(b)(v) for b in self.batches)
        return out / len(self.batches)

    __matmul__ = matvec

    def matmat(self, vs: Tensor, chunk_size: int | None = None) -> Tensor:
        """``H v_i`` for the rows of ``vs`` (shape ``[m, n]``), vectorized; returns ``[m, n]``.

        ``chunk_size`` bounds how many vectors go through ``vmap`` at once
        (memory); ``None`` does all ``m`` together.
        """
        vs = self._check(vs, 2)
        if chunk_size is not None:
            check.integer(self.owner, "chunk_size", chunk_size, minimum=1)
        out = sum(vmap(self._batch_hvp(b), chunk_size=chunk_size)(vs) for b in self.batches)
        return out / len(self.batches)

    def gradient(self) -> Tensor:
        """``grad L`` at the operator's parameters, shape ``[n]``."""
        return grad(self.loss)(self.theta)

    def dense(self, chunk_size: int | None = 256) -> Tensor:
        """The exact Hessian, shape ``[n, n]``, formed as ``H e_i`` for every basis vector.

        Costs ``n`` Hessian-vector products and ``n^2`` numbers of memory; meant
        for small models and for checking the iterative estimates.
        """
        eye = torch.eye(self.num_params, dtype=self.dtype, device=self.device)
        H = self.matmat(eye, chunk_size=chunk_size)
        return (H + H.T) / 2
