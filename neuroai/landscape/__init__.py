"""Loss landscapes: Hessian-vector products, spectra, sharpness and slices.

Curvature (all from Hessian-vector products of ``torch.func``, never forming
the Hessian; pass ``params=`` to restrict to some named parameters, e.g. one
layer of :func:`parameter_groups`):

* :class:`HessianOperator`: ``v -> H v`` for a model, a loss and data.
* :func:`top_eigenvalues` (Lanczos or power iteration), :func:`hessian_trace`
  (Hutchinson), :func:`spectral_density` (stochastic Lanczos quadrature).
* :func:`keskar_sharpness`, :func:`flatness`.

Geometry: :func:`random_direction` (filter-normalized), :func:`loss_slice_1d`,
:func:`loss_slice_2d`, :func:`linear_interpolation`.
"""
from ._objective import Objective, parameter_groups, select_parameters
from .hvp import HessianOperator
from .sharpness import Flatness, Sharpness, flatness, keskar_sharpness
from .slices import (Interpolation, LossSlice1D, LossSlice2D, linear_interpolation, loss_slice_1d,
                     loss_slice_2d, preserved, random_direction)
from .spectrum import (Eigenpairs, Lanczos, SpectralDensity, TraceEstimate, hessian_trace, lanczos,
                       spectral_density, top_eigenvalues)

__all__ = [
    "Objective", "parameter_groups", "select_parameters", "HessianOperator",
    "Eigenpairs", "Lanczos", "SpectralDensity", "TraceEstimate", "hessian_trace", "lanczos",
    "spectral_density", "top_eigenvalues",
    "Flatness", "Sharpness", "flatness", "keskar_sharpness",
    "Interpolation", "LossSlice1D", "LossSlice2D", "linear_interpolation", "loss_slice_1d",
    "loss_slice_2d", "preserved", "random_direction",
]
