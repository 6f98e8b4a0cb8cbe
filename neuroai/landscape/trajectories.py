"""Optimizer trajectories on test functions, and escape times from saddles.

:func:`trajectory` runs any ``torch.optim.Optimizer`` on a
:class:`~neuroai.landscape.functions.BenchmarkFunction` and records the path;
``optimizer.step(closure)`` is called once per step, so methods that
re-evaluate the function (``torch.optim.LBFGS``, line searches) work as well
as SGD or Adam. :func:`escape_time` measures when a path leaves a ball around
its start, the quantity of saddle-escape experiments (Jin et al. 2017, "How
to escape saddle points efficiently", ICML).
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from torch.optim import Optimizer

from .. import validation as check
from ..optim.protocol import step_protocol, take_step
from .functions import BenchmarkFunction


@dataclass(frozen=True)
class Trajectory:
    """The path of one optimizer run; ``n`` is the number of steps taken.

    Attributes:
        - points: ``[n + 1, dim]``: the start, then the point after each step.
        - values: ``[n + 1]``: ``f`` at each point.
        - grad_norms: ``[n + 1]``: the Euclidean norm of ``grad f`` at each point.
        - steps_to_tol: the first step ``k`` with ``f(points[k]) - minimum_value
          <= tol`` (0 when the start already is), ``None`` if never reached
          or when the function has no minimum value.
        - evaluations: how many times the optimizer called the closure
          (once per step for SGD or Adam, up to ``max_iter`` times for LBFGS).
        - seconds_per_step: mean wall-clock time of one ``optimizer.step``, in
          seconds (NaN when no step was taken).
        - diverged: the run stopped at a non-finite value or gradient (the last
          entries of ``values`` and ``grad_norms``).
    """

    points: np.ndarray
    values: np.ndarray
    grad_norms: np.ndarray
    steps_to_tol: int | None
    evaluations: int
    seconds_per_step: float
    diverged: bool

    @property
    def steps(self) -> int:
        """``n``, the number of optimizer steps taken."""
        return len(self.points) - 1

    @property
    def converged(self) -> bool:
        """Whether the run came within ``tol`` of the minimum value."""
        return self.steps_to_tol is not None


def trajectory(function: BenchmarkFunction, make_optimizer: Callable[[list[Tensor]], Optimizer],
               start=None, steps: int = 1000, tol: float = 1e-6,
               dtype: torch.dtype = torch.float64) -> Trajectory:
    """Run an optimizer on ``function`` and record its path.

    Args:
        - function: the function to minimize.
        - make_optimizer: builds the optimizer from the list of parameters
          (one tensor of shape ``[dim]``), e.g.
          ``lambda params: torch.optim.SGD(params, lr=1e-3)``.
        - start: the first point, ``dim`` numbers (default ``function.start``).
        - steps: the most ``optimizer.step`` calls (>= 1).
        - tol: stop once ``f - function.minimum_value <= tol`` (>= 0); ignored
          for functions without a minimum value.
        - dtype: floating dtype of the parameter.

    Each step is taken by the optimizer's protocol
    (:func:`neuroai.optim.protocol.take_step`) with a ``closure`` that zeroes the
    gradients, evaluates ``f``, back-propagates (with ``create_graph`` for
    optimizers that ask for it, such as :class:`neuroai.optim.Newton`) and
    returns ``f``. The run
    stops after ``steps`` steps, once ``tol`` is reached, or at the first
    non-finite value or gradient (``diverged``; no exception is raised).
    """
    owner = "trajectory"
    if not isinstance(function, BenchmarkFunction):
        raise TypeError(f"{owner}: parameter 'function' must be a BenchmarkFunction, got {function!r}")
    if not callable(make_optimizer):
        raise TypeError(f"{owner}: parameter 'make_optimizer' must be callable, got {make_optimizer!r}")
    start = check.array(owner, "start", function.start if start is None else start, (function.dim,))
    steps = check.integer(owner, "steps", steps, minimum=1)
    tol = check.real(owner, "tol", tol, nonnegative=True)
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise TypeError(f"{owner}: parameter 'dtype' must be a floating torch.dtype, got {dtype!r}")

    x = torch.tensor(start, dtype=dtype, requires_grad=True)
    optimizer = make_optimizer([x])
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{owner}: parameter 'make_optimizer' must return a torch.optim.Optimizer, "
                        f"got {optimizer!r}")
    evaluations = 0
    protocol = step_protocol(optimizer)

    @torch.enable_grad()
    def closure() -> Tensor:
        nonlocal evaluations
        evaluations += 1
        optimizer.zero_grad()
        loss = function.fn(x)
        loss.backward(create_graph=protocol.create_graph)
        return loss

    points, values, grad_norms = [], [], []

    @torch.enable_grad()
    def observe() -> float:
        point = x.detach().clone().requires_grad_()
        value = function.fn(point)
        (grad,) = torch.autograd.grad(value, point)
        points.append(point.detach().to("cpu", torch.float64).numpy())
        values.append(value.item())
        grad_norms.append(torch.linalg.vector_norm(grad.double()).item())  # (float32's square would overflow)
        return values[-1]

    def reached(value: float) -> bool:
        return function.minimum_value is not None and value - function.minimum_value <= tol

    value = observe()
    steps_to_tol = 0 if reached(value) else None
    seconds, taken = 0.0, 0
    while taken < steps and steps_to_tol is None and math.isfinite(value) and math.isfinite(grad_norms[-1]):
        tick = time.perf_counter()
        take_step(optimizer, closure, protocol)
        seconds += time.perf_counter() - tick
        taken += 1
        value = observe()
        if reached(value):
            steps_to_tol = taken
    return Trajectory(points=np.stack(points), values=np.array(values),
                      grad_norms=np.array(grad_norms), steps_to_tol=steps_to_tol, evaluations=evaluations,
                      seconds_per_step=seconds / taken if taken else math.nan,
                      diverged=not (math.isfinite(value) and math.isfinite(grad_norms[-1])))


def escape_time(trajectory: Trajectory, radius: float, center=None) -> int | None:
    """The first step at which ``trajectory`` is farther than ``radius`` from ``center``.

    ``center``: ``dim`` numbers, e.g. the saddle's location (default: the
    trajectory's start). Distances are Euclidean, in the function's
    coordinates; returns ``None`` if the path never leaves the ball. Started
    near a saddle, this is the time the optimizer takes to escape it.
    """
    if not isinstance(trajectory, Trajectory):
        raise TypeError(f"escape_time: parameter 'trajectory' must be a Trajectory, got {trajectory!r}")
    radius = check.real("escape_time", "radius", radius, positive=True)
    dim = trajectory.points.shape[1]
    center = trajectory.points[0] if center is None else check.array("escape_time", "center", center, (dim,))
    with np.errstate(over="ignore", invalid="ignore"):  # a diverged path is infinitely far
        distance = np.linalg.norm(trajectory.points - center, axis=1)
    outside = np.flatnonzero(distance > radius)
    return int(outside[0]) if outside.size else None
