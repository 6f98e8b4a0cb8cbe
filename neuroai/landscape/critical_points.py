"""Critical points of test functions: classification by the Hessian, and a batched Newton search.

A critical point ``x*`` (``grad f(x*) = 0``) is classified by the eigenvalues
of the Hessian ``H = grad^2 f(x*)`` (computed exactly with
:func:`torch.func.hessian`): all positive, a minimum; all negative, a maximum;
both signs, a saddle; any eigenvalue within ``tol`` of zero, degenerate (the
second-order test cannot decide, as at the monkey saddle's origin).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from torch.func import grad, hessian, vmap

from .. import validation as check
from .functions import BenchmarkFunction, check_bounds


@dataclass(frozen=True)
class CriticalPoint:
    """A (candidate) critical point of a function.

    Attributes:
        point: ``[dim]``, the location.
        value: ``f(point)``.
        gradient_norm: Euclidean norm of ``grad f(point)`` (0 at an exact critical point).
        eigenvalues: ``[dim]``, the Hessian's eigenvalues in ascending order.
        kind: ``"minimum"``, ``"maximum"``, ``"saddle"`` or ``"degenerate"``.
    """

    point: np.ndarray
    value: float
    gradient_norm: float
    eigenvalues: np.ndarray
    kind: str


def _check_function(owner: str, function) -> BenchmarkFunction:
    if not isinstance(function, BenchmarkFunction):
        raise TypeError(f"{owner}: parameter 'function' must be a BenchmarkFunction, got {function!r}")
    return function


def _classify_all(function: BenchmarkFunction, x: Tensor, tol: float) -> list[CriticalPoint]:
    """Classify each row of ``x`` (``[n, dim]``); no check that the gradient vanishes."""
    if not len(x):
        return []
    values = function.fn(x)
    gradient_norms = torch.linalg.vector_norm(vmap(grad(function.fn))(x), dim=-1)
    eigenvalues = torch.linalg.eigvalsh(vmap(hessian(function.fn))(x))
    kinds = np.select([(eigenvalues.abs() < tol).any(-1).numpy(), (eigenvalues > 0).all(-1).numpy(),
                       (eigenvalues < 0).all(-1).numpy()], ["degenerate", "minimum", "maximum"], "saddle")
    return [CriticalPoint(p, v, g, e, str(k)) for p, v, g, e, k
            in zip(x.numpy(), values.tolist(), gradient_norms.tolist(), eigenvalues.numpy(), kinds)]


def classify(function: BenchmarkFunction, point, tol: float = 1e-6) -> CriticalPoint:
    """Classify ``point`` (``dim`` numbers) by the eigenvalues of the Hessian of ``function`` there.

    ``kind`` is ``"degenerate"`` when some eigenvalue has ``|lambda| < tol``,
    else ``"minimum"``, ``"maximum"`` or ``"saddle"`` by the signs. The test
    assumes ``point`` is critical: check ``gradient_norm``. Computed in float64.
    """
    function = _check_function("classify", function)
    point = check.array("classify", "point", point, (function.dim,))
    tol = check.real("classify", "tol", tol, nonnegative=True)
    return _classify_all(function, torch.as_tensor(point)[None], tol)[0]


def critical_points(function: BenchmarkFunction, n_starts: int = 64, seed: int = 0, bounds=None,
                    tol: float = 1e-8, *, eigen_tol: float = 1e-6, max_iter: int = 50) -> list[CriticalPoint]:
    """Critical points of ``function`` in a box, found by Newton's method from random starts.

    Args:
        - function: the function (float64 throughout).
        - n_starts: number of starts, drawn uniformly in ``bounds`` from
          ``numpy.random.default_rng(seed)``.
        - seed: seed of the starts.
        - bounds: ``(low, high)`` per coordinate (default ``function.bounds``).
        - tol: a point is critical when ``||grad f|| <= tol``.
        - eigen_tol: passed to :func:`classify` as its ``tol``.
        - max_iter: the most Newton iterations.

    All starts iterate together as one batch: ``x <- x - pinv(H(x)) grad f(x)``
    with gradients and Hessians from ``torch.func.vmap``; the pseudo-inverse
    (the least-squares step) keeps the iteration defined where ``H`` is
    singular. Newton's method is attracted to critical points of every kind,
    not only minima. Iterates that become non-finite are frozen; the
    iteration stops early once no step exceeds ``1e-14 (1 + max|x|)``.
    Critical points outside ``bounds`` are dropped, and points closer than
    ``1e-3`` times the diagonal of the box are merged (the first found is
    kept). Returns the distinct critical points sorted by value.
    """
    owner = "critical_points"
    function = _check_function(owner, function)
    n_starts = check.integer(owner, "n_starts", n_starts, minimum=1)
    seed = check.seed(owner, seed)
    box = torch.as_tensor(check_bounds(owner, function.bounds if bounds is None else bounds, function.dim))
    tol = check.real(owner, "tol", tol, positive=True)
    eigen_tol = check.real(owner, "eigen_tol", eigen_tol, nonnegative=True)
    max_iter = check.integer(owner, "max_iter", max_iter, minimum=1)

    low, high = box[:, 0], box[:, 1]
    x = low + (high - low) * torch.as_tensor(np.random.default_rng(seed).random((n_starts, function.dim)))
    gradient, curvature = vmap(grad(function.fn)), vmap(hessian(function.fn))
    for _ in range(max_iter):
        g, H = gradient(x), curvature(x)
        finite = torch.isfinite(g).all(-1) & torch.isfinite(H).flatten(1).all(-1)
        g, H = g.where(finite[:, None], 0.0), H.where(finite[:, None, None], 0.0)
        step = (torch.linalg.pinv(H, hermitian=True) @ g[..., None])[..., 0]
        x = x - step
        if step.abs().max() <= 1e-14 * (1 + x.nan_to_num(0.0, 0.0, 0.0).abs().max()):
            break

    critical = (torch.isfinite(x).all(-1) & (torch.linalg.vector_norm(gradient(x), dim=-1) <= tol)
                & ((x >= low) & (x <= high)).all(-1))
    x = x[critical]
    close = torch.cdist(x, x) < 1e-3 * torch.linalg.vector_norm(high - low)
    x = x[~torch.tril(close, diagonal=-1).any(-1)]
    return sorted(_classify_all(function, x, eigen_tol), key=lambda c: c.value)
