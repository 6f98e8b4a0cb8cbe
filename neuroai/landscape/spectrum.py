"""Hessian spectra from Hessian-vector products: top eigenpairs, trace, density.

Every function takes either a :class:`~neuroai.landscape.hvp.HessianOperator`
or ``model, loss_fn, data`` (plus ``params=`` to restrict to some named
parameters, e.g. one layer, and ``num_batches=``), and a ``seed`` (an int or a
``torch.Generator``): random vectors are drawn on the CPU from that generator,
so a seed gives the same numbers on every device.

* :func:`top_eigenvalues`: Lanczos with full reorthogonalization, or power
  iteration with deflation (as PyHessian, Yao et al. 2020).
* :func:`hessian_trace`: Hutchinson's estimator with Rademacher probes,
  ``tr H = E[v^T H v]``, with its standard error.
* :func:`spectral_density`: stochastic Lanczos quadrature (Ghorbani, Krishnan
  & Xiao 2019), a Gaussian-smoothed eigenvalue density on a grid.
* :func:`lanczos`: the tridiagonalization they share.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from .. import validation as check
from ._objective import LossFn, ParamSelection, Seed, make_generator
from .hvp import HessianOperator


def as_operator(model: nn.Module | HessianOperator, loss_fn: LossFn | None = None, data: Any = None,
                params: ParamSelection = None, num_batches: int | None = None, *,
                owner: str = "as_operator") -> HessianOperator:
    """``model`` itself if it is a :class:`HessianOperator`, else a new one (its errors naming ``owner``)."""
    if isinstance(model, HessianOperator):
        if loss_fn is not None or data is not None or params is not None or num_batches is not None:
            raise ValueError(f"{owner}: got a HessianOperator: give loss_fn, data, params and num_batches "
                             "when building the operator, not here (they must be None)")
        return model
    if loss_fn is None or data is None:
        raise TypeError(f"{owner}: pass a HessianOperator, or model, loss_fn and data (they must not be None)")
    return HessianOperator(model, loss_fn, data, params=params, num_batches=num_batches, owner=owner)


def _rademacher(shape: tuple[int, ...], gen: torch.Generator, like: HessianOperator) -> Tensor:
    v = torch.randint(0, 2, shape, generator=gen, dtype=torch.int8) * 2 - 1
    return v.to(device=like.device, dtype=like.dtype)


class Lanczos(NamedTuple):
    """A Lanczos run of ``m`` steps: ``Q H Q^T = T``, ``T`` tridiagonal.

    - alpha: diagonal of ``T``, shape ``[m]``.
    - beta: off-diagonal of ``T``, shape ``[m - 1]``.
    - basis: the orthonormal Lanczos vectors ``Q``, shape ``[m, n]``.
    - residual: ``beta_m``, the norm of the next (unused) Lanczos vector;
      ``0`` when the run found an invariant subspace.
    """

    alpha: Tensor
    beta: Tensor
    basis: Tensor
    residual: float


def lanczos(matvec: Callable[[Tensor], Tensor], v0: Tensor, num_iter: int,
            stop: Callable[[Tensor, Tensor, Tensor, float], bool] | None = None, scale: float = 0.0) -> Lanczos:
    """Lanczos tridiagonalization with full reorthogonalization.

    Args:
        - matvec: ``v -> H v`` for a symmetric ``H``, vectors of shape ``[n]``.
        - v0: starting vector ``[n]`` (normalized here).
        - num_iter: at most this many steps (``<= n``).
        - stop: optional ``stop(alpha, beta, basis, beta_next) -> bool``, asked
          after every step, to end early (e.g. when Ritz values converged).

    The run also ends when the Krylov space becomes invariant
    (``beta < 1e-10 * max(||T||, scale)``; ``scale``: a known size of ``H``,
    for a run on a subspace where ``H`` is about 0).
    """
    num_iter = min(check.integer("lanczos", "num_iter", num_iter, minimum=1), v0.numel())
    q = v0 / torch.linalg.vector_norm(v0)
    Q = torch.empty(num_iter, v0.numel(), dtype=v0.dtype, device=v0.device)
    alphas: list[Tensor] = []
    betas: list[Tensor] = []
    beta_next = 0.0
    for j in range(num_iter):
        Q[j] = q
        w = matvec(q)
        alpha = torch.dot(w, q)
        alphas.append(alpha)
        w = w - alpha * q
        if j > 0:
            w = w - betas[-1] * Q[j - 1]
        for _ in range(2):  # full reorthogonalization, twice is enough (Parlett's "twice is enough")
            w = w - Q[: j + 1].T @ (Q[: j + 1] @ w)
        beta = torch.linalg.vector_norm(w)
        scale = max(scale, abs(float(alpha)) + float(beta))
        beta_next = float(beta)
        if beta_next <= 1e-10 * max(scale, 1e-30):
            beta_next = 0.0
            break
        if j + 1 < num_iter and stop is not None:
            b = torch.stack(betas) if betas else alpha.new_zeros(0)
            if stop(torch.stack(alphas), b, Q[: j + 1], beta_next):
                break
        if j + 1 < num_iter:
            betas.append(beta)
            q = w / beta
    m = len(alphas)
    alpha = torch.stack(alphas)
    beta = torch.stack(betas[: m - 1]) if m > 1 else alpha.new_zeros(0)
    return Lanczos(alpha, beta, Q[:m], beta_next)


def _block_lanczos(matmat: Callable[[Tensor], Tensor], V0: Tensor, m: int) -> tuple[Tensor, Tensor, Tensor]:
    """``R`` independent Lanczos runs in lockstep (one vectorized product per step).

    Args:
        matmat: ``[R, n] -> [R, n]``, the rows multiplied by ``H``.
        V0: starting vectors ``[R, n]``; m: steps (``<= n``).

    Returns ``alpha [R, m]``, ``beta [R, m - 1]`` and ``lengths [R]``: a run
    that found an invariant subspace after ``L`` steps is frozen there (its
    entries past ``L`` are meaningless).
    """
    R, n = V0.shape
    Q = torch.zeros(R, m, n, dtype=V0.dtype, device=V0.device)
    alpha = torch.zeros(R, m, dtype=V0.dtype, device=V0.device)
    beta = torch.zeros(R, max(m - 1, 0), dtype=V0.dtype, device=V0.device)
    lengths = torch.full((R,), m, dtype=torch.long)
    active = torch.ones(R, dtype=torch.bool, device=V0.device)
    q = V0 / torch.linalg.vector_norm(V0, dim=1, keepdim=True)
    scale = torch.zeros(R, dtype=V0.dtype, device=V0.device)
    for j in range(m):
        Q[:, j] = q
        w = matmat(q)
        a = (w * q).sum(dim=1)
        alpha[:, j] = a
        w = w - a[:, None] * q
        if j > 0:
            w = w - beta[:, j - 1, None] * Q[:, j - 1]
        for _ in range(2):  # full reorthogonalization against every earlier vector of the run
            w = w - torch.einsum("rj,rjn->rn", torch.einsum("rjn,rn->rj", Q[:, : j + 1], w), Q[:, : j + 1])
        b = torch.linalg.vector_norm(w, dim=1)
        scale = torch.maximum(scale, a.abs() + b)
        if j + 1 == m:
            break
        broke = active & (b <= 1e-10 * scale.clamp_min(1e-30))
        for r in torch.nonzero(broke).flatten().tolist():
            lengths[r] = j + 1
        active = active & ~broke
        b = torch.where(active, b, torch.ones_like(b))
        beta[:, j] = torch.where(active, b, torch.zeros_like(b))
        q = torch.where(active[:, None], w / b[:, None], torch.zeros_like(w))
    return alpha, beta, lengths


def _tridiag_eigh(alpha: Tensor, beta: Tensor) -> tuple[Tensor, Tensor]:
    """Eigenvalues ``[m]`` (ascending) and eigenvectors ``[m, m]`` (columns) of ``T``, in float64."""
    T = torch.diag(alpha.double().cpu())
    if beta.numel():
        off = beta.double().cpu()
        T = T + torch.diag(off, 1) + torch.diag(off, -1)
    return torch.linalg.eigh(T)


class Eigenpairs(NamedTuple):
    """eigenvalues: shape ``[k]``, in descending order (see ``which``);
    eigenvectors: shape ``[k, n]``, unit rows over the flat selected parameters
    (split per parameter with ``HessianOperator.unflatten``)."""

    eigenvalues: Tensor
    eigenvectors: Tensor


def top_eigenvalues(model: nn.Module | HessianOperator, loss_fn: LossFn | None = None, data: Any = None,
                    *, k: int = 1, method: str = "lanczos", which: str = "largest",
                    max_iter: int | None = None, tol: float = 1e-6, seed: Seed = 0,
                    params: ParamSelection = None, num_batches: int | None = None) -> Eigenpairs:
    """The ``k`` top eigenvalues of the Hessian and their eigenvectors.

    Args:
        - model, loss_fn, data, params, num_batches: the Hessian (see module doc).
        - k: how many eigenpairs (``1 <= k <= n``).
        - method: ``"lanczos"`` (full reorthogonalization; stops when the ``k``
          Ritz residuals ``|beta_m s_mi|`` fall below ``tol * |lambda_1|``; a
          Krylov space found invariant with fewer than ``k`` Ritz values, as
          for a Hessian of low rank, is continued from a random vector
          orthogonal to it) or
          ``"power"`` (power iteration, deflated by projecting out the
          eigenvectors already found; stops when the Rayleigh quotient changes
          by less than ``tol`` relative).
        - which: ``"largest"`` (algebraically largest; the default) or
          ``"magnitude"`` (largest ``|lambda|``, the sharpest directions
          whatever their sign). Power iteration finds ``"largest"`` by
          first finding ``|lambda|_max`` and iterating on ``H + |lambda|_max I``.
        - max_iter: Lanczos steps, or power iterations per eigenvalue (default
          ``min(n, max(60, 4k))`` and 1000).
        - tol: relative tolerance.
        - seed: int or ``torch.Generator`` for the starting vectors.

    Returns:
        :class:`Eigenpairs` ``(eigenvalues [k], eigenvectors [k, n])``, sorted
        by ``which`` (descending value, or descending magnitude).
    """
    owner = "top_eigenvalues"
    H = as_operator(model, loss_fn, data, params, num_batches, owner=owner)
    n = H.num_params
    k = check.integer(owner, "k", k, minimum=1)
    if k > n:
        raise ValueError(f"{owner}: k must be at most the number of parameters n = {n}, got {k}")
    check.choice(owner, "method", method, ("lanczos", "power"))
    check.choice(owner, "which", which, ("largest", "magnitude"))
    tol = check.real(owner, "tol", tol, positive=True)
    if max_iter is not None:
        check.integer(owner, "max_iter", max_iter, minimum=1)
        if method == "lanczos" and max_iter < k:
            raise ValueError(f"{owner}: max_iter must be at least k = {k} with method='lanczos' (each step adds one "
                             f"Ritz value), got {max_iter}")
    gen = make_generator(seed, owner)
    if method == "lanczos":
        return _lanczos_top(H, k, which, max_iter, tol, gen)
    return _power_top(H, k, which, max_iter, tol, gen)


def _order(values: Tensor, which: str) -> Tensor:
    return torch.argsort(values.abs() if which == "magnitude" else values, descending=True)


def _lanczos_top(H: HessianOperator, k: int, which: str, max_iter: int | None, tol: float,
                 gen: torch.Generator) -> Eigenpairs:
    n = H.num_params
    m = min(n, max(60, 4 * k)) if max_iter is None else max_iter
    v0 = torch.randn(n, generator=gen, dtype=torch.float64).to(H.device, H.dtype)

    def converged(alpha, beta, basis, beta_next):
        if alpha.numel() < k + 2 or alpha.numel() % 3:
            return False
        vals, vecs = _tridiag_eigh(alpha, beta)
        idx = _order(vals, which)[:k]
        resid = beta_next * vecs[-1, idx].abs()
        return bool((resid <= tol * vals.abs().max().clamp_min(1e-30)).all())

    values, vectors = [], []   # Ritz pairs of every run
    found = v0.new_zeros(0, n)  # the invariant subspaces spanned so far (orthonormal rows)
    while True:
        def deflated(v: Tensor) -> Tensor:   # H on the complement of ``found`` (invariant too: H = H^T)
            w = H.matvec(v)
            return w - found.T @ (found @ w) if len(found) else w
        size = max((float(v.abs().max()) for v in values), default=0.0)
        run = lanczos(deflated, v0, min(m, n - len(found)), stop=converged, scale=size)
        vals, vecs = _tridiag_eigh(run.alpha, run.beta)
        values.append(vals)
        vectors.append(vecs.T.to(H.device, H.dtype) @ run.basis)
        found = torch.cat([found, run.basis])
        if sum(map(len, values)) >= k or run.residual > 0 or len(found) >= n:
            break
        # the Krylov space of v0 was invariant with fewer than k Ritz values (a Hessian of low rank, as a
        # spiking network's with silent neurons): go on from a random vector orthogonal to it
        v0 = torch.randn(n, generator=gen, dtype=torch.float64).to(H.device, H.dtype)
        for _ in range(2):
            v0 = v0 - found.T @ (found @ v0)
    vals, eigvecs = torch.cat(values), torch.cat(vectors)
    idx = _order(vals, which)[:k]
    eigvecs = eigvecs[idx]
    eigvecs = eigvecs / torch.linalg.vector_norm(eigvecs, dim=1, keepdim=True)
    return Eigenpairs(vals[idx].to(H.device, H.dtype), eigvecs)


def _power(H: HessianOperator, shift: float, found: list[Tensor], max_iter: int, tol: float,
           gen: torch.Generator) -> tuple[float, Tensor]:
    """Dominant eigenpair of ``H + shift I`` restricted to the complement of ``found``."""
    U = torch.stack(found) if found else None
    v = torch.randn(H.num_params, generator=gen, dtype=torch.float64).to(H.device, H.dtype)
    lam = math.nan
    for _ in range(max_iter):
        if U is not None:
            v = v - U.T @ (U @ v)
        v = v / torch.linalg.vector_norm(v)
        w = H.matvec(v) + shift * v
        if U is not None:
            w = w - U.T @ (U @ w)
        new = float(torch.dot(v, w))
        norm = torch.linalg.vector_norm(w)
        if norm == 0:
            return new, v
        v = w / norm
        if abs(new - lam) <= tol * max(abs(new), 1e-30):
            lam = new
            break
        lam = new
    return lam, v


def _power_top(H: HessianOperator, k: int, which: str, max_iter: int | None, tol: float,
               gen: torch.Generator) -> Eigenpairs:
    iters = 1000 if max_iter is None else max_iter
    shift = 0.0
    if which == "largest":
        lam, _ = _power(H, 0.0, [], iters, tol, gen)
        shift = abs(lam)  # H + |lambda|_max I is positive semidefinite: its top is H's largest
    values, vectors = [], []
    for _ in range(k):
        lam, v = _power(H, shift, vectors, iters, tol, gen)
        values.append(lam - shift)
        vectors.append(v)
    vals = torch.tensor(values, dtype=H.dtype, device=H.device)
    idx = _order(vals, which)
    return Eigenpairs(vals[idx], torch.stack(vectors)[idx])


class TraceEstimate(NamedTuple):
    """trace: the estimate of ``tr H``; stderr: its standard error
    (sample std of the probes / sqrt(num_probes); nan for one probe);
    samples: the probe values ``v_i^T H v_i``, shape ``[num_probes]``."""

    trace: float
    stderr: float
    samples: Tensor


def hessian_trace(model: nn.Module | HessianOperator, loss_fn: LossFn | None = None, data: Any = None,
                  *, num_probes: int = 100, probe_batch: int | None = 16, seed: Seed = 0,
                  params: ParamSelection = None, num_batches: int | None = None) -> TraceEstimate:
    """Hutchinson's estimate of the Hessian trace with Rademacher probes.

    ``tr H ~ (1/P) sum_i v_i^T H v_i``, ``v_i`` with i.i.d. entries ``+-1``;
    the variance of one probe is ``2 sum_{i != j} H_ij^2``.

    Args:
        - model, loss_fn, data, params, num_batches: the Hessian (see module doc).
        - num_probes: ``P``, the number of probe vectors.
        - probe_batch: probes per vectorized (``vmap``) Hessian-vector product;
          ``None``: all at once; ``1``: one at a time (for models ``vmap``
          cannot handle).
        - seed: int or ``torch.Generator`` for the probes.
    """
    owner = "hessian_trace"
    H = as_operator(model, loss_fn, data, params, num_batches, owner=owner)
    P = check.integer(owner, "num_probes", num_probes, minimum=1)
    if probe_batch is not None:
        check.integer(owner, "probe_batch", probe_batch, minimum=1)
    gen = make_generator(seed, owner)
    itemsize = torch.empty((), dtype=H.dtype).element_size()
    check.memory(owner, 3.0 * P * H.num_params * itemsize, f"{P} probes of {H.num_params} parameters",
                 "lower num_probes")
    V = _rademacher((P, H.num_params), gen, H)
    if probe_batch == 1:
        HV = torch.stack([H.matvec(v) for v in V])
    else:
        HV = H.matmat(V, chunk_size=probe_batch)
    samples = (V * HV).sum(dim=1)
    stderr = float(samples.std(correction=1)) / math.sqrt(P) if P > 1 else math.nan
    return TraceEstimate(float(samples.mean()), stderr, samples)


class SpectralDensity(NamedTuple):
    """A smoothed eigenvalue density from stochastic Lanczos quadrature.

    - grid: eigenvalue axis, shape ``[P]``.
    - density: ``rho(t)`` on the grid, shape ``[P]``; integrates to ~1.
    - nodes: Ritz values of each run, shape ``[runs, m]`` (zero-padded).
    - weights: their quadrature weights, shape ``[runs, m]``; each row sums to 1
      (padding has weight 0).
    - sigma: the Gaussian kernel width (eigenvalue units).
    """

    grid: Tensor
    density: Tensor
    nodes: Tensor
    weights: Tensor
    sigma: float

    def mean(self) -> float:
        """``int t rho(t) dt`` from the quadrature, an estimate of ``tr H / n``."""
        return float((self.nodes * self.weights).sum(dim=1).mean())


def spectral_density(model: nn.Module | HessianOperator, loss_fn: LossFn | None = None, data: Any = None,
                     *, num_runs: int = 10, num_iter: int = 80, num_points: int = 1000,
                     sigma: float | None = None, seed: Seed = 0, params: ParamSelection = None,
                     num_batches: int | None = None) -> SpectralDensity:
    """Eigenvalue density of the Hessian by stochastic Lanczos quadrature.

    Each of ``num_runs`` runs starts Lanczos (``num_iter`` steps, full
    reorthogonalization; the runs go in lockstep, one vectorized Hessian
    product per step) from a normalized Rademacher vector ``v``; the Ritz
    values ``theta_j`` with weights ``tau_j = (first component of the j-th
    eigenvector of T)^2`` are a quadrature for ``v^T f(H) v / n``, so (Ghorbani
    et al. 2019)

        rho(t) = (1/runs) sum_r sum_j tau_rj * N(t; theta_rj, sigma^2).

    Args:
        model, loss_fn, data, params, num_batches: the Hessian (see module doc).
        num_runs: number of random starting vectors.
        num_iter: Lanczos steps per run (capped at ``n``).
        num_points: grid size; the grid spans the Ritz values +- 6 sigma.
        sigma: kernel width in eigenvalue units; default 1% of the Ritz range.
        seed: int or ``torch.Generator`` for the starting vectors.
    """
    owner = "spectral_density"
    H = as_operator(model, loss_fn, data, params, num_batches, owner=owner)
    R = check.integer(owner, "num_runs", num_runs, minimum=1)
    check.integer(owner, "num_iter", num_iter, minimum=1)
    P = check.integer(owner, "num_points", num_points, minimum=1)
    if sigma is not None:
        sigma = check.real(owner, "sigma", sigma, positive=True)
    gen = make_generator(seed, owner)
    m = min(num_iter, H.num_params)
    itemsize = torch.empty((), dtype=H.dtype).element_size()
    check.memory(owner, 3.0 * R * m * H.num_params * itemsize, f"{R} Lanczos runs of {m} steps over "
                 f"{H.num_params} parameters", "lower num_runs or num_iter")
    check.memory(owner, 16.0 * P * R * m, f"a grid of {P} points for {R * m} Ritz values", "lower num_points")
    V0 = _rademacher((R, H.num_params), gen, H)
    alpha, beta, lengths = _block_lanczos(H.matmat, V0, m)
    nodes = torch.zeros(R, m, dtype=torch.float64)
    weights = torch.zeros(R, m, dtype=torch.float64)
    for r in range(R):
        L = int(lengths[r])
        vals, vecs = _tridiag_eigh(alpha[r, :L], beta[r, : L - 1])
        nodes[r, :L] = vals
        weights[r, :L] = vecs[0] ** 2
    used = weights > 0
    lo, hi = float(nodes[used].min()), float(nodes[used].max())
    if sigma is None:
        sigma = 0.01 * (hi - lo) if hi > lo else 1e-3 * max(1.0, abs(hi))
    grid = torch.linspace(lo - 6 * sigma, hi + 6 * sigma, P, dtype=torch.float64)
    if not bool(torch.isfinite(grid).all()):
        raise ValueError(f"{owner}: parameter 'sigma' must be small enough for the grid (the Ritz values "
                         f"+- 6 sigma) to be finite, got {sigma!r}")
    z = (grid[:, None] - nodes.reshape(1, -1)) / sigma
    kernel = torch.exp(-0.5 * z**2) / (sigma * math.sqrt(2 * math.pi))
    density = kernel @ weights.reshape(-1) / R
    return SpectralDensity(grid, density, nodes, weights, float(sigma))
