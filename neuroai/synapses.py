"""Synapse kinds, connectivity patterns and weight initializers.

A synapse kind says what a presynaptic spike does to its target:
:class:`Delta` jumps the membrane potential, :class:`ExponentialCurrent`
kicks a decaying current. Connectivity patterns and initializers are
resolved once, from their own seed, when a projection is created, so every
backend receives the very same synapses and weights.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import validation as check


# --- synapse kinds --------------------------------------------------------

@dataclass(frozen=True)
class Delta:
    """On a presynaptic spike: ``v += w`` (``w`` in volts, or dimensionless).

    Discarded while the target is refractory, including the step it spiked.
    ``target`` names the variable that jumps: ``"v"`` for the built-in
    models; any state variable of a :class:`~neuroai.NeuronModel` (a jump of
    a synaptic current written into its equations, say), gated by
    refractoriness where the variable is flagged ``(unless refractory)``.
    ``w`` is in the units of the target variable.
    """

    target: str = "v"
    feature = "Delta"

    def __post_init__(self):
        if not isinstance(self.target, str) or not self.target.isidentifier():
            raise ValueError(f"Delta: parameter 'target' must name a state variable, got {self.target!r}")

    @property
    def target_variable(self) -> str:
        """The target population's state variable that jumps by ``w`` on a spike: ``target``."""
        return self.target


@dataclass(frozen=True)
class ExponentialCurrent:
    r"""Current-based synapse: on a spike ``I += w``; between spikes
    :math:`\tau\,dI/dt = -I`.

    ``I`` (amperes, or dimensionless) enters the membrane equation through
    ``R``. Projections that share ``current`` on one population share one
    variable and must share ``tau``; use distinct names (``"I_exc"``,
    ``"I_inh"``) for distinct time constants.
    """

    tau: float = 5e-3
    current: str = "I_syn"
    feature = "ExponentialCurrent"

    def __post_init__(self):
        object.__setattr__(self, "tau", check.real("ExponentialCurrent", "tau", self.tau, positive=True, unit="second"))
        if not isinstance(self.current, str) or not self.current.isidentifier() or self.current == "v":
            raise ValueError("ExponentialCurrent: parameter 'current' must be an identifier other "
                             f"than 'v', got {self.current!r}")

    @property
    def target_variable(self) -> str:
        """The target population's synaptic current variable that jumps by ``w`` on a spike: ``current``."""
        return self.current


@dataclass(frozen=True)
class ExponentialConductance:
    r"""Conductance-based synapse: on a spike ``g += w``; between spikes
    :math:`\tau\,dg/dt = -g`; the target receives the current
    :math:`g\,(E_{rev} - v)`.

    ``g`` is in siemens (dimensionless models: units of 1/R) and ``E_rev``
    in the units of ``v``. Projections that share ``conductance`` on one
    population share one variable and must share ``tau`` and ``E_rev``
    (e.g. ``"g_exc"`` with E_rev = 0 V, ``"g_inh"`` with E_rev = -80 mV).
    A LIF population receiving conductances is integrated with the
    exponential Euler method (linear in ``v`` over each step).
    """

    tau: float = 5e-3
    E_rev: float = 0.0
    conductance: str = "g_syn"
    feature = "ExponentialConductance"

    def __post_init__(self):
        object.__setattr__(self, "tau",
                           check.real("ExponentialConductance", "tau", self.tau, positive=True, unit="second"))
        object.__setattr__(self, "E_rev", check.real("ExponentialConductance", "E_rev", self.E_rev, unit=("volt", "1")))
        if not isinstance(self.conductance, str) or not self.conductance.isidentifier() or self.conductance == "v":
            raise ValueError("ExponentialConductance: parameter 'conductance' must be an identifier other "
                             f"than 'v', got {self.conductance!r}")

    @property
    def target_variable(self) -> str:
        """The target population's conductance variable that jumps by ``w`` on a spike: ``conductance``."""
        return self.conductance


# --- connectivity ---------------------------------------------------------

@dataclass(frozen=True)
class AllToAll:
    """Every presynaptic neuron to every postsynaptic one; ``allow_self=False``
    drops i == j (meaningful for a population projecting onto itself)."""

    allow_self: bool = True

    def __post_init__(self):
        check.flag("AllToAll", "allow_self", self.allow_self)

    def resolve(self, n_pre: int, n_post: int) -> tuple[np.ndarray, np.ndarray]:
        """The connected pairs as index arrays ``(pre, post)``, each of shape (n_synapses,), sorted by
        (pre, post): all ``n_pre * n_post`` pairs, without those with i == j if ``allow_self`` is False."""
        mask = np.ones((n_pre, n_post), dtype=bool)
        if not self.allow_self:
            np.fill_diagonal(mask, False)
        return np.nonzero(mask)

    def expected_synapses(self, n_pre: int, n_post: int) -> float:
        """How many synapses :meth:`resolve` makes (for the memory check before drawing them)."""
        return float(n_pre) * n_post


@dataclass(frozen=True)
class OneToOne:
    """Neuron i to neuron i; both sides must have the same size."""

    def resolve(self, n_pre: int, n_post: int) -> tuple[np.ndarray, np.ndarray]:
        """The connected pairs as index arrays ``(pre, post)``, both ``arange(n)``; raise ValueError if
        ``n_pre != n_post``."""
        if n_pre != n_post:
            raise ValueError(f"OneToOne: needs equal sizes, got {n_pre} pre and {n_post} post neurons")
        idx = np.arange(n_pre)
        return idx, idx.copy()

    def expected_synapses(self, n_pre: int, n_post: int) -> float:
        """How many synapses :meth:`resolve` makes."""
        return float(min(n_pre, n_post))


@dataclass(frozen=True)
class FixedProbability:
    """Each pair connected independently with probability ``p`` (seeded)."""

    p: float
    allow_self: bool = True
    seed: int = 0

    def __post_init__(self):
        p = check.real("FixedProbability", "p", self.p)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"FixedProbability: parameter 'p' must be in [0, 1], got {p}")
        check.flag("FixedProbability", "allow_self", self.allow_self)
        check.seed("FixedProbability", self.seed)

    def resolve(self, n_pre: int, n_post: int) -> tuple[np.ndarray, np.ndarray]:
        """The connected pairs, sorted by (pre, post), drawn in time and
        memory proportional to their number (not to n_pre * n_post): the gaps
        between successive connected pairs in row-major order are
        independent geometric variables, which is the same distribution as
        one Bernoulli trial per pair."""
        total, p = n_pre * n_post, float(self.p)
        if p == 0.0 or total == 0:
            flat = np.zeros(0, dtype=np.int64)
        elif p == 1.0:
            flat = np.arange(total, dtype=np.int64)
        else:
            rng, found, last = np.random.default_rng(self.seed), [], -1
            while last < total:
                left = total - 1 - last  # pairs not yet decided
                draws = int(left * p + 6 * np.sqrt(left * p) + 16)  # enough to finish in one go, nearly always
                # (a gap past the end ends the draw; capped, the int64 gaps a tiny p gives cannot overflow)
                positions = last + np.cumsum(np.minimum(rng.geometric(p, size=draws), total + 1))
                last = int(positions[-1])
                found.append(positions[positions < total])
            flat = np.concatenate(found)
        pre, post = np.divmod(flat, n_post)
        if not self.allow_self:
            keep = pre != post
            pre, post = pre[keep], post[keep]
        return pre, post

    def expected_synapses(self, n_pre: int, n_post: int) -> float:
        """How many synapses :meth:`resolve` makes on average."""
        return float(self.p) * n_pre * n_post


@dataclass(frozen=True, eq=False)
class Explicit:
    """Synapses given as a boolean ``mask`` of shape (n_pre, n_post)."""

    mask: np.ndarray

    def __post_init__(self):
        expected = "a boolean array of shape (n_pre, n_post)"
        mask = check.as_array("Explicit", "mask", self.mask, expected)
        if mask.dtype != bool or mask.ndim != 2:
            raise TypeError(f"Explicit: parameter 'mask' must be {expected}, got dtype {mask.dtype} and shape "
                            f"{mask.shape}")
        object.__setattr__(self, "mask", mask)

    def resolve(self, n_pre: int, n_post: int) -> tuple[np.ndarray, np.ndarray]:
        """The connected pairs as index arrays ``(pre, post)`` of the True entries of ``mask``, sorted by
        (pre, post); raise ValueError unless ``mask`` has shape (n_pre, n_post)."""
        if self.mask.shape != (n_pre, n_post):
            raise ValueError(f"Explicit: 'mask' must have the projection's shape {(n_pre, n_post)}, "
                             f"got shape {self.mask.shape}")
        return np.nonzero(self.mask)

    def expected_synapses(self, n_pre: int, n_post: int) -> float:
        """How many synapses :meth:`resolve` makes (the mask exists already: nothing to check)."""
        return 0.0


# --- initializers ---------------------------------------------------------

@dataclass(frozen=True)
class Uniform:
    """Values drawn uniformly from [low, high) with their own seed."""

    low: float
    high: float
    seed: int = 0

    def __post_init__(self):
        low = check.real("Uniform", "low", self.low, unit="any")
        high = check.real("Uniform", "high", self.high, unit="any")
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)
        if high < low:
            raise ValueError(f"Uniform: 'high' ({high}) must be >= 'low' ({low})")
        check.seed("Uniform", self.seed)

    def sample(self, size: int) -> np.ndarray:
        """``size`` float64 values drawn from [low, high), shape (size,); the same values on every call
        (the generator is re-seeded from ``seed``)."""
        return np.random.default_rng(self.seed).uniform(self.low, self.high, size)


@dataclass(frozen=True)
class Normal:
    """Values drawn from a normal distribution with their own seed."""

    mean: float
    std: float
    seed: int = 0

    def __post_init__(self):
        object.__setattr__(self, "mean", check.real("Normal", "mean", self.mean, unit="any"))
        object.__setattr__(self, "std", check.real("Normal", "std", self.std, nonnegative=True, unit="any"))
        check.seed("Normal", self.seed)

    def sample(self, size: int) -> np.ndarray:
        """``size`` float64 values drawn from N(mean, std**2), shape (size,); the same values on every call
        (the generator is re-seeded from ``seed``)."""
        return np.random.default_rng(self.seed).normal(self.mean, self.std, size)


INITIALIZERS = (Uniform, Normal)


def resolve_values(owner: str, name: str, value, pre: np.ndarray | None, post: np.ndarray | None,
                   full_shape: tuple[int, ...]) -> np.ndarray:
    """Turn a scalar, an initializer, a full array or a per-element array into
    one float64 value per element.

    With ``pre``/``post`` given (synapses), a ``full_shape`` (n_pre, n_post)
    array is read at the connected positions; otherwise the array must have
    one value per element.
    """
    size = len(pre) if pre is not None else int(np.prod(full_shape))
    if isinstance(value, INITIALIZERS):
        out = value.sample(size)
    elif pre is not None and _ndim(value) == 2:
        out = check.array(owner, name, value, full_shape)[pre, post]
    else:
        out = check.array(owner, name, value, (size,))
    if not np.all(np.isfinite(out)):
        raise ValueError(f"{owner}: parameter '{name}' produced NaN or infinite values; they must be finite")
    return out


def _ndim(value) -> int | None:
    """``np.ndim(value)``, or None for ragged nesting (which :func:`~neuroai.validation.array` then names)."""
    try:
        return np.ndim(value)
    except ValueError:
        return None
