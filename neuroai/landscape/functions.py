"""Classic test functions of optimization, as differentiable torch callables.

Each factory returns a :class:`BenchmarkFunction`: the function itself
(``x`` of shape ``[..., dim]`` to values of shape ``[...]``, in the dtype and
on the device of ``x``), its global minima, a plotting/search domain and a
standard starting point. The registry :data:`BENCHMARK_FUNCTIONS` names them
all; :func:`benchmark_function` builds one by name.

Reference for the formulas, minima and domains: Surjanovic & Bingham,
"Virtual Library of Simulation Experiments: Test Functions and Datasets",
https://www.sfu.ca/~ssurjano/optimization.html, and Jamil & Yang (2013),
"A literature survey of benchmark functions for global optimization
problems", Int. J. Math. Model. Numer. Optim. 4(2), 150-194.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .. import validation as check


def check_bounds(owner: str, bounds, dim: int) -> np.ndarray:
    """``bounds`` as a float64 array ``[dim, 2]`` of ``(low, high)`` rows with ``low < high``."""
    array = check.array(owner, "bounds", bounds, (dim, 2))
    if np.any(array[:, 0] >= array[:, 1]):
        raise ValueError(f"{owner}: parameter 'bounds' must be (low, high) pairs with low < high, "
                         f"got {bounds!r}")
    return array


@dataclass(frozen=True)
class BenchmarkFunction:
    """A test function ``f: R^dim -> R`` with what is known about it.

    Attributes:
        - name: registry name, e.g. ``"rosenbrock"``.
        - fn: ``fn(x)`` maps a tensor ``[..., dim]`` to ``[...]``; differentiable
          (autograd and ``torch.func``), any floating dtype and device.
        - dim: the number of coordinates.
        - minima: the global minimizers, each a tuple of ``dim`` floats; empty
          when the function has no minimum.
        - minimum_value: ``f`` at the global minima, or ``None`` when unbounded below.
        - bounds: ``(low, high)`` per coordinate: the usual plotting/search domain.
        - start: a standard starting point, ``dim`` floats.

    Calling the object evaluates ``fn``; lists and numpy arrays are converted
    to float64 tensors first.
    """

    name: str
    fn: Callable[[Tensor], Tensor]
    dim: int
    minima: tuple[tuple[float, ...], ...]
    minimum_value: float | None
    bounds: tuple[tuple[float, float], ...]
    start: tuple[float, ...]

    def __post_init__(self):
        owner = f"BenchmarkFunction {self.name!r}"
        if not callable(self.fn):
            raise TypeError(f"{owner}: parameter 'fn' must be callable, got {self.fn!r}")
        dim = check.integer(owner, "dim", self.dim, minimum=1)
        minima = [check.array(owner, "minima", m, (dim,)) for m in self.minima]
        value = None if self.minimum_value is None else check.real(owner, "minimum_value", self.minimum_value)
        if (value is None) != (not minima):
            raise ValueError(f"{owner}: parameters 'minima' and 'minimum_value' must be both given or both "
                             f"empty, got {self.minima!r} and {self.minimum_value!r}")
        bounds = check_bounds(owner, self.bounds, dim)
        start = check.array(owner, "start", self.start, (dim,))
        object.__setattr__(self, "dim", dim)
        object.__setattr__(self, "minima", tuple(tuple(float(v) for v in m) for m in minima))
        object.__setattr__(self, "minimum_value", value)
        object.__setattr__(self, "bounds", tuple((float(lo), float(hi)) for lo, hi in bounds))
        object.__setattr__(self, "start", tuple(float(v) for v in start))

    def __call__(self, x) -> Tensor:
        """``f(x)`` for ``x`` of shape ``[..., dim]``, real and finite; returns shape ``[...]`` (inf where ``f``
        overflows the dtype)."""
        if not isinstance(x, Tensor):
            array = check.as_array(self.name, "x", x, f"a real tensor or array of shape [..., {self.dim}]")
            if array.dtype.kind not in "iuf":
                raise TypeError(f"{self.name}: parameter 'x' must be a real tensor or array of shape "
                                f"[..., {self.dim}], got {x!r}")
            x = torch.as_tensor(array.astype(np.float64))
        if x.is_complex() or x.dtype == torch.bool:
            raise TypeError(f"{self.name}: parameter 'x' must be a real tensor, got dtype {x.dtype}")
        if not x.is_floating_point():
            x = x.double()
        if x.ndim == 0 or x.shape[-1] != self.dim:
            raise ValueError(f"{self.name}: parameter 'x' must be of shape [..., {self.dim}], "
                             f"got shape {tuple(x.shape)}")
        if not bool(torch.isfinite(x).all()):
            raise ValueError(f"{self.name}: parameter 'x' must be finite, got NaN or infinite coordinates")
        return self.fn(x)  # (inf where f overflows the dtype: line searches take it as a step too long)


def _dim(owner: str, dim, minimum: int) -> int:
    """``dim``, an integer >= ``minimum`` whose description (minima, bounds, start: a few hundred bytes per
    coordinate) fits in memory."""
    dim = check.integer(owner, "dim", dim, minimum=minimum)
    check.memory(owner, 256.0 * dim, f"the description of {dim} coordinates", "lower dim")
    return dim


def _two_dimensional(owner: str, dim) -> None:
    check.choice(owner, "dim", check.integer(owner, "dim", dim), (2,))


def _rosenbrock(x: Tensor) -> Tensor:
    return (100.0 * (x[..., 1:] - x[..., :-1] ** 2) ** 2 + (1.0 - x[..., :-1]) ** 2).sum(-1)


def rosenbrock(dim: int = 2) -> BenchmarkFunction:
    r"""Rosenbrock's banana valley (Rosenbrock 1960), ``dim >= 2``:

    .. math:: f(x) = \sum_{i=1}^{d-1} \left[b\,(x_{i+1} - x_i^2)^2 + (a - x_i)^2\right],
              \quad a = 1,\ b = 100.

    Global minimum ``f(1, ..., 1) = 0`` (for ``4 <= d <= 7`` there is also
    a local minimum near ``(-1, 1, ..., 1)``). Start ``(-1.2, 1, -1.2, 1,
    ...)`` (Moré, Garbow & Hillstrom 1981); bounds alike, ``[-2, 2]`` and
    ``[-1, 3]`` in turn (the classic picture in 2-D).
    """
    dim = _dim("rosenbrock", dim, 2)
    bounds = tuple((-2.0, 2.0) if i % 2 == 0 else (-1.0, 3.0) for i in range(dim))
    start = tuple(-1.2 if i % 2 == 0 else 1.0 for i in range(dim))
    return BenchmarkFunction("rosenbrock", _rosenbrock, dim, ((1.0,) * dim,), 0.0, bounds, start)


def _rastrigin(x: Tensor) -> Tensor:
    return (x ** 2 - 10.0 * torch.cos(2 * math.pi * x)).sum(-1) + 10.0 * x.shape[-1]


def rastrigin(dim: int = 2) -> BenchmarkFunction:
    r"""Rastrigin's egg crate, ``dim >= 1``: a bowl dimpled with local minima near the integer points,

    .. math:: f(x) = 10\,d + \sum_{i=1}^{d} \left[x_i^2 - 10\cos(2\pi x_i)\right].

    Global minimum ``f(0, ..., 0) = 0``. Bounds ``[-5.12, 5.12]``; start
    ``(-2.2, 3.3, -2.2, 3.3, ...)``, in the basins of the local minima near
    ``(-2, 3)`` (off the half-integer grid, where the cosine terms' gradients
    vanish and a halved trial step would land exactly on the global minimum).
    """
    dim = _dim("rastrigin", dim, 1)
    return BenchmarkFunction("rastrigin", _rastrigin, dim, ((0.0,) * dim,), 0.0, ((-5.12, 5.12),) * dim,
                             tuple(-2.2 if i % 2 == 0 else 3.3 for i in range(dim)))


def _beale(x: Tensor) -> Tensor:
    u, v = x[..., 0], x[..., 1]
    return (1.5 - u + u * v) ** 2 + (2.25 - u + u * v ** 2) ** 2 + (2.625 - u + u * v ** 3) ** 2


def beale(dim: int = 2) -> BenchmarkFunction:
    r"""Beale's function, two-dimensional: flat plateaus and steep ridges,

    .. math:: f(x, y) = (1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2.

    Global minimum ``f(3, 0.5) = 0``. Bounds ``[-4.5, 4.5]^2``; start ``(1, 1)``.
    """
    _two_dimensional("beale", dim)
    return BenchmarkFunction("beale", _beale, 2, ((3.0, 0.5),), 0.0, ((-4.5, 4.5),) * 2, (1.0, 1.0))


def _himmelblau(x: Tensor) -> Tensor:
    u, v = x[..., 0], x[..., 1]
    return (u ** 2 + v - 11.0) ** 2 + (u + v ** 2 - 7.0) ** 2


def himmelblau(dim: int = 2) -> BenchmarkFunction:
    r"""Himmelblau's function (Himmelblau 1972), two-dimensional:

    .. math:: f(x, y) = (x^2 + y - 11)^2 + (x + y^2 - 7)^2.

    Four global minima of value 0: ``(3, 2)``, ``(-2.805118, 3.131313)``,
    ``(-3.779310, -3.283186)``, ``(3.584428, -1.848127)``; besides them one
    local maximum, ``f(-0.270845, -0.923039) = 181.617``, and four saddles.
    Bounds ``[-5, 5]^2``; start ``(0, 0)``.
    """
    _two_dimensional("himmelblau", dim)
    minima = ((3.0, 2.0), (-2.805118086952745, 3.131312518250573),
              (-3.779310253377747, -3.283185991286169), (3.5844283403304917, -1.8481265269644034))
    return BenchmarkFunction("himmelblau", _himmelblau, 2, minima, 0.0, ((-5.0, 5.0),) * 2, (0.0, 0.0))


def _ackley(x: Tensor) -> Tensor:
    d = x.shape[-1]
    radius = torch.linalg.vector_norm(x, dim=-1) / math.sqrt(d)
    return (-20.0 * torch.exp(-0.2 * radius) - torch.exp(torch.cos(2 * math.pi * x).mean(-1))
            + 20.0 + math.e)


def ackley(dim: int = 2) -> BenchmarkFunction:
    r"""Ackley's function (Ackley 1987), ``dim >= 1``: a funnel riddled with local minima,

    .. math:: f(x) = -a \exp\Big(-b \sqrt{\tfrac1d \textstyle\sum_i x_i^2}\Big)
              - \exp\Big(\tfrac1d \textstyle\sum_i \cos(c\,x_i)\Big) + a + e,
              \quad a = 20,\ b = 0.2,\ c = 2\pi.

    Global minimum ``f(0, ..., 0) = 0``, the tip of a cone: ``f`` is not
    differentiable there, and autograd gives the subgradient 0. Bounds
    ``[-5, 5]`` (the usual plot; the search domain is often ``[-32.768,
    32.768]``); start ``(3, 3, ...)``.
    """
    dim = _dim("ackley", dim, 1)
    return BenchmarkFunction("ackley", _ackley, dim, ((0.0,) * dim,), 0.0, ((-5.0, 5.0),) * dim, (3.0,) * dim)


_STYBLINSKI_TANG_ARGMIN = -2.903534027771177
_STYBLINSKI_TANG_MIN_PER_DIM = -39.16616570377142


def _styblinski_tang(x: Tensor) -> Tensor:
    return 0.5 * (x ** 4 - 16.0 * x ** 2 + 5.0 * x).sum(-1)


def styblinski_tang(dim: int = 2) -> BenchmarkFunction:
    r"""The Styblinski–Tang function (Styblinski & Tang 1990), ``dim >= 1``:

    .. math:: f(x) = \tfrac12 \sum_{i=1}^{d} \left(x_i^4 - 16 x_i^2 + 5 x_i\right).

    Each coordinate has a global minimum at ``-2.903534`` and a local one at
    ``2.746803``, so there are ``2^d`` local minima. Global minimum
    ``f(-2.903534, ..., -2.903534) = -39.166166 d``. Bounds ``[-5, 5]``;
    start ``(0.5, ..., 0.5)``, in the basin of the worst local minimum.
    """
    dim = _dim("styblinski_tang", dim, 1)
    return BenchmarkFunction("styblinski_tang", _styblinski_tang, dim, ((_STYBLINSKI_TANG_ARGMIN,) * dim,),
                             _STYBLINSKI_TANG_MIN_PER_DIM * dim, ((-5.0, 5.0),) * dim, (0.5,) * dim)


def _saddle(x: Tensor) -> Tensor:
    return x[..., 0] ** 2 - x[..., 1] ** 2


def saddle(dim: int = 2) -> BenchmarkFunction:
    r"""The saddle ``f(x, y) = x^2 - y^2``, two-dimensional.

    Its only critical point, the origin, is a strict saddle (Hessian
    eigenvalues -2 and 2); ``f`` is unbounded below, so there is no minimum.
    Bounds ``[-1.5, 1.5]^2``; start ``(1, 0.001)``: just off the saddle's
    stable manifold ``y = 0``, so gradient descent first slides toward the
    saddle and then escapes along ``y``.
    """
    _two_dimensional("saddle", dim)
    return BenchmarkFunction("saddle", _saddle, 2, (), None, ((-1.5, 1.5),) * 2, (1.0, 1e-3))


def _monkey_saddle(x: Tensor) -> Tensor:
    u, v = x[..., 0], x[..., 1]
    return u ** 3 - 3.0 * u * v ** 2


def monkey_saddle(dim: int = 2) -> BenchmarkFunction:
    r"""The monkey saddle ``f(x, y) = x^3 - 3 x y^2``, two-dimensional.

    Its only critical point, the origin, is degenerate: the Hessian is zero
    there, and ``f`` falls along three valleys and rises along three ridges.
    No minimum. Bounds ``[-1.5, 1.5]^2``; start ``(1, 0.001)``: just off the
    ridge ``y = 0``, which leads down to the origin.
    """
    _two_dimensional("monkey_saddle", dim)
    return BenchmarkFunction("monkey_saddle", _monkey_saddle, 2, (), None, ((-1.5, 1.5),) * 2, (1.0, 1e-3))


BENCHMARK_FUNCTIONS: dict[str, Callable[..., BenchmarkFunction]] = {
    "rosenbrock": rosenbrock,
    "rastrigin": rastrigin,
    "beale": beale,
    "himmelblau": himmelblau,
    "ackley": ackley,
    "styblinski_tang": styblinski_tang,
    "saddle": saddle,
    "monkey_saddle": monkey_saddle,
}
"""Registry: name -> factory ``factory(dim=2) -> BenchmarkFunction``."""


def benchmark_function(name: str, dim: int = 2) -> BenchmarkFunction:
    """The test function registered as ``name``, in ``dim`` dimensions.

    Raises ``ValueError`` listing the known names for an unknown ``name``, and
    naming the supported dimensions when the function has no ``dim`` version.
    """
    check.choice("benchmark_function", "name", name, BENCHMARK_FUNCTIONS)
    return BENCHMARK_FUNCTIONS[name](dim)
