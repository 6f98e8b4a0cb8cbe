"""Loss landscapes: Hessian-vector products, spectra, sharpness and slices.

Curvature (all from Hessian-vector products, by double backward or
``torch.func``, never forming the Hessian; pass ``params=`` to restrict to
some named parameters, e.g. one layer of :func:`parameter_groups`):

* :class:`HessianOperator`: ``v -> H v`` for a model, a loss and data.
* :func:`top_eigenvalues` (Lanczos or power iteration), :func:`hessian_trace`
  (Hutchinson), :func:`spectral_density` (stochastic Lanczos quadrature).
* :func:`keskar_sharpness`, :func:`flatness`.

Geometry: :func:`random_direction` (filter-normalized), :func:`loss_slice_1d`,
:func:`loss_slice_2d`, :func:`linear_interpolation`.

Non-convex lab, on classic test functions in a few dimensions:

* :class:`BenchmarkFunction`: Rosenbrock, Rastrigin, Beale, Himmelblau,
  Ackley, Styblinski-Tang, the saddle and the monkey saddle (one factory
  each, e.g. :func:`rosenbrock`), with their minima, bounds and a standard
  start; by name from :func:`benchmark_function` (:data:`BENCHMARK_FUNCTIONS`).
* :func:`trajectory`: the path of any ``torch.optim.Optimizer`` on one of them
  (a :class:`Trajectory`); :func:`escape_time` from a saddle.
* :func:`classify` (second-order test, a :class:`CriticalPoint`) and
  :func:`critical_points` (batched Newton search from random starts).
"""
from ._objective import Objective, parameter_groups, select_parameters
from .critical_points import CriticalPoint, classify, critical_points
from .functions import (BENCHMARK_FUNCTIONS, BenchmarkFunction, ackley, beale, benchmark_function, himmelblau,
                        monkey_saddle, rastrigin, rosenbrock, saddle, styblinski_tang)
from .hvp import HessianOperator
from .sharpness import Flatness, Sharpness, flatness, keskar_sharpness
from .slices import (Interpolation, LossSlice1D, LossSlice2D, linear_interpolation, loss_slice_1d,
                     loss_slice_2d, preserved, random_direction)
from .spectrum import (Eigenpairs, Lanczos, SpectralDensity, TraceEstimate, hessian_trace, lanczos,
                       spectral_density, top_eigenvalues)
from .trajectories import Trajectory, escape_time, trajectory

__all__ = [
    "Objective", "parameter_groups", "select_parameters", "HessianOperator",
    "Eigenpairs", "Lanczos", "SpectralDensity", "TraceEstimate", "hessian_trace", "lanczos",
    "spectral_density", "top_eigenvalues",
    "Flatness", "Sharpness", "flatness", "keskar_sharpness",
    "Interpolation", "LossSlice1D", "LossSlice2D", "linear_interpolation", "loss_slice_1d",
    "loss_slice_2d", "preserved", "random_direction",
    "BENCHMARK_FUNCTIONS", "BenchmarkFunction", "benchmark_function", "ackley", "beale", "himmelblau",
    "monkey_saddle", "rastrigin", "rosenbrock", "saddle", "styblinski_tang",
    "Trajectory", "escape_time", "trajectory", "CriticalPoint", "classify", "critical_points",
]
