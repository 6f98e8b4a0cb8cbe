"""Spike encoders: turn stimulus values into spike rasters.

Every encoder maps values of shape ``(..., n)`` to a boolean raster of shape
``(steps, ..., n)`` (time first, as snnTorch does), drawing any randomness
from the ``numpy.random.Generator`` it is given. Two take a stimulus that
already carries time, of shape ``(steps, ..., n)``: :class:`SpikeArray` (the
spikes themselves) and :class:`DeltaEncoder` (a signal sampled each step).
The simulator encodes once and hands the very same raster to every backend.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import validation as check


def _unit_interval(owner: str, values) -> np.ndarray:
    arr = check.as_array(owner, "values", values, "a real array of stimulus values")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{owner}: stimulus values must be a real array, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if arr.size and (not np.all(np.isfinite(arr)) or arr.min() < 0 or arr.max() > 1):
        raise ValueError(f"{owner}: stimulus values must lie in [0, 1], got values in "
                         f"[{arr.min()}, {arr.max()}]")
    return arr


def _window(owner: str, steps, dt, size: int) -> tuple[int, float]:
    """``steps`` (an integer >= 0) and ``dt`` (seconds > 0), checked; ``size``: values per step, for the memory
    a raster of ``steps`` steps needs (about 9 bytes each)."""
    steps = check.integer(owner, "steps", steps, minimum=0)
    dt = check.real(owner, "dt", dt, positive=True, unit="second")
    check.memory(owner, 9.0 * steps * size, f"a raster of {steps} steps x {size} values",
                 "encode fewer steps at a time")
    return steps, dt


@dataclass(frozen=True)
class PoissonRate:
    """Independent Bernoulli spikes per step at rate ``value * max_rate`` (Hz).

    Values lie in [0, 1]. Without values (``run`` given no stimulus for this
    input) every neuron fires at ``max_rate``: a background source.
    """

    max_rate: float = 100.0
    feature = "PoissonRate"

    def __post_init__(self):
        object.__setattr__(self, "max_rate",
                           check.real("PoissonRate", "max_rate", self.max_rate, nonnegative=True, unit="hertz"))

    def encode(self, values, steps: int, dt: float, rng: np.random.Generator) -> np.ndarray:
        """Boolean raster ``(steps, ..., n)`` for ``values`` in [0, 1] of shape ``(..., n)``: a spike
        with probability ``value * max_rate * dt`` per step (``dt`` in seconds), drawn from ``rng``. Raises
        ValueError if ``max_rate * dt`` exceeds 1."""
        values = _unit_interval("PoissonRate", values)
        steps, dt = _window("PoissonRate", steps, dt, values.size)
        p = values * (self.max_rate * dt)
        if p.max(initial=0.0) > 1.0:
            raise ValueError(f"PoissonRate: max_rate * dt = {self.max_rate * dt} exceeds 1 spike per step; it must "
                             f"be at most 1 (lower max_rate or dt)")
        return rng.random((steps,) + p.shape) < p


@dataclass(frozen=True)
class RegularRate:
    """Deterministic, evenly spaced spikes at rate ``value * max_rate`` (Hz).

    A phase accumulator: neuron fires on each step its accumulated phase
    ``rate * dt * (step + 1)`` passes a whole number.
    """

    max_rate: float = 100.0
    feature = "RegularRate"

    def __post_init__(self):
        object.__setattr__(self, "max_rate",
                           check.real("RegularRate", "max_rate", self.max_rate, nonnegative=True, unit="hertz"))

    def encode(self, values, steps: int, dt: float, rng: np.random.Generator | None = None) -> np.ndarray:
        """Boolean raster ``(steps, ..., n)`` for ``values`` in [0, 1] of shape ``(..., n)``: evenly
        spaced spikes at ``value * max_rate`` Hz (``dt`` in seconds; ``rng`` is unused). Raises ValueError if
        ``max_rate * dt`` exceeds 1."""
        values = _unit_interval("RegularRate", values)
        steps, dt = _window("RegularRate", steps, dt, values.size)
        per_step = values * (self.max_rate * dt)
        if per_step.max(initial=0.0) > 1.0:
            raise ValueError(f"RegularRate: max_rate * dt = {self.max_rate * dt} exceeds 1 spike per step; it must "
                             f"be at most 1 (lower max_rate or dt)")
        k = np.arange(steps + 1).reshape((-1,) + (1,) * per_step.ndim)
        count = np.floor(per_step * k + 1e-9)
        return np.diff(count, axis=0) > 0


@dataclass(frozen=True)
class Latency:
    """Time-to-first-spike code: one spike per neuron, earlier for larger values.

    ``kind="linear"``: spike at ``(1 - value) * t_max``.
    ``kind="log"``: spike at ``tau * ln(value / (value - threshold))``, the
    first passage time of an RC circuit charged by ``value`` to ``threshold``.
    Values at or below ``threshold`` and spike times past the window stay
    silent.
    """

    t_max: float = 50e-3
    kind: str = "linear"
    tau: float = 10e-3
    threshold: float = 0.0
    feature = "Latency"

    def __post_init__(self):
        object.__setattr__(self, "t_max", check.real("Latency", "t_max", self.t_max, positive=True, unit="second"))
        object.__setattr__(self, "tau", check.real("Latency", "tau", self.tau, positive=True, unit="second"))
        t = check.real("Latency", "threshold", self.threshold)
        if not 0.0 <= t < 1.0:
            raise ValueError(f"Latency: parameter 'threshold' must be in [0, 1), got {t}")
        check.choice("Latency", "kind", self.kind, ("linear", "log"))

    def spike_times(self, values) -> np.ndarray:
        """Spike time of each value in seconds (``inf`` where silent)."""
        x = _unit_interval("Latency", values)
        above = x > self.threshold
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.kind == "linear":
                t = (1.0 - x) * self.t_max
            else:
                t = self.tau * np.log(x / (x - self.threshold))
        return np.where(above, t, np.inf)

    def encode(self, values, steps: int, dt: float, rng: np.random.Generator | None = None) -> np.ndarray:
        """Boolean raster ``(steps, ..., n)`` for ``values`` in [0, 1] of shape ``(..., n)``: one spike
        per neuron at step ``round(spike_times(values) / dt)`` (``dt`` in seconds), none if that step falls
        outside the window or the value is silent; ``rng`` is unused."""
        times = self.spike_times(values)
        steps, dt = _window("Latency", steps, dt, times.size)
        step = np.round(times / dt)
        k = np.arange(steps).reshape((-1,) + (1,) * step.ndim)
        return k == step


@dataclass(frozen=True)
class SpikeArray:
    """Spikes given by the user: the stimulus *is* the raster, a boolean (or
    0/1) array of shape ``(steps, n)``."""

    feature = "SpikeArray"
    time_series = True  # the stimulus has one row per step

    def encode(self, values, steps: int, dt: float, rng: np.random.Generator | None = None) -> np.ndarray:
        """The spikes ``values`` themselves as a boolean raster, checked to have shape ``(steps, ..., n)``;
        0/1 numbers are converted, anything else raises TypeError. ``dt`` and ``rng`` are unused."""
        steps = check.integer("SpikeArray", "steps", steps, minimum=0)
        arr = check.as_array("SpikeArray", "values", values, "a boolean or 0/1 spike array")
        if arr.dtype != bool:
            if arr.dtype.kind not in "iuf" or not np.all((arr == 0) | (arr == 1)):
                raise TypeError(f"SpikeArray: spikes must be boolean or 0/1, got dtype {arr.dtype}")
            arr = arr.astype(bool)
        if arr.ndim < 2 or arr.shape[0] != steps:
            raise ValueError(f"SpikeArray: spikes must have shape (steps={steps}, ..., n), got {arr.shape}")
        return arr


def _real_array(owner: str, name: str, values) -> np.ndarray:
    """``values`` (parameter ``name`` of ``owner``) as a finite float64 array, or an error naming them."""
    arr = check.as_array(owner, name, values, "a real array")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{owner}: parameter '{name}' must be a real array, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{owner}: parameter '{name}' must be finite, got an array with NaN or inf")
    return arr


@dataclass(frozen=True)
class DeltaEncoder:
    """Change-based (delta modulation) code: a spike when the signal changed.

    The stimulus carries time, as for :class:`SpikeArray`: values are a time
    series of shape ``(steps, ..., n)``, one sample per step, and the raster
    has the same shape. With ``d_t = x_t - r_t`` the change against a
    reference ``r_t``, an *event* happens where ``|d_t| >= threshold``; it is
    an ON event when ``d_t >= threshold`` and an OFF event when
    ``d_t <= -threshold``. ``mode`` picks the events that become spikes:
    ``"on"`` (increases), ``"off"`` (decreases) or ``"both"``. A boolean
    raster cannot carry a sign; to keep ON and OFF apart, feed the same signal
    to two inputs, one with ``mode="on"`` and one with ``mode="off"``.

    reference: ``"previous"`` compares each sample with the one before,
        ``r_t = x_{t-1}``, exactly as snnTorch's ``spikegen.delta`` (a slow
        drift never fires, however large it grows). ``"last_event"`` is
        send-on-delta modulation: ``r_t`` is the signal at the last event
        (ON or OFF, whether or not ``mode`` turns it into a spike), so a slow
        drift fires once per ``threshold`` of accumulated change.
    padding: what step 0 is compared with: 0 (``False``, snnTorch's default,
        so a first sample ``>= threshold`` fires) or the first sample itself
        (``True``: step 0 never fires).
    """

    threshold: float = 0.1
    mode: str = "on"
    reference: str = "previous"
    padding: bool = False
    feature = "DeltaEncoder"
    time_series = True  # the stimulus has one row per step

    def __post_init__(self):
        check.real("DeltaEncoder", "threshold", self.threshold, positive=True)
        check.choice("DeltaEncoder", "mode", self.mode, ("on", "off", "both"))
        check.choice("DeltaEncoder", "reference", self.reference, ("previous", "last_event"))
        check.flag("DeltaEncoder", "padding", self.padding)

    def encode(self, values, steps: int, dt: float, rng: np.random.Generator | None = None) -> np.ndarray:
        """Boolean raster of the same shape as ``values``, a time series of shape ``(steps, ..., n)``: the
        ON, OFF or both events picked by ``mode`` (see the class). ``dt`` and ``rng`` are unused."""
        steps = check.integer("DeltaEncoder", "steps", steps, minimum=0)
        x = _real_array("DeltaEncoder", "values", values)
        if x.ndim < 2 or x.shape[0] != steps:
            raise ValueError(f"DeltaEncoder: stimulus values must be a time series of shape "
                             f"(steps={steps}, ..., n), one sample per step, got shape {x.shape}")
        first = x[0] if self.padding else np.zeros_like(x[0])
        if self.reference == "previous":
            change = x - np.concatenate([first[None], x[:-1]])
            on, off = change >= self.threshold, change <= -self.threshold
        else:
            on = np.empty(x.shape, dtype=bool)
            off = np.empty(x.shape, dtype=bool)
            ref = first.copy()
            for t in range(steps):  # the reference is sequential in time; each step is vectorized
                change = x[t] - ref
                on[t], off[t] = change >= self.threshold, change <= -self.threshold
                ref = np.where(on[t] | off[t], x[t], ref)
        if self.mode == "on":
            return on
        if self.mode == "off":
            return off
        return on | off


@dataclass(frozen=True)
class PopulationCode:
    """Gaussian tuning curves: each neuron fires Poisson spikes at
    ``max_rate * exp(-(x - pref)**2 / (2 * sigma**2))`` Hz for stimulus ``x``.

    Preferred values ``pref`` are evenly spread over ``[low, high]`` (see
    :meth:`preferred`). ``circular=True`` makes the stimulus periodic with
    period ``high - low`` (an angle): ``x - pref`` is wrapped into
    ``[-period/2, period/2)`` and the preferred values are
    ``low + period * k / p`` (``high`` is the same point as ``low``).

    Values have one entry per neuron, shape ``(..., n)``, like every encoder
    (the simulator hands ``(n,)`` to ``run`` and ``(n_samples, n)`` to
    ``present``): entry ``i`` is the stimulus neuron ``i`` sees. To encode one
    scalar per sample, give it to every neuron; :meth:`stimulus` builds that
    array: ``sim.run(T, {"pop": code.stimulus(0.3, n)})``. Linear stimuli
    must lie in ``[low, high]``; circular ones may be any finite number.

    size: neurons per encoded value. ``None``: all ``n`` neurons of the input
        encode one value. ``p``: the input's ``n = m * p`` neurons form ``m``
        consecutive groups of ``p`` neurons, each group encoding its own value
        with the same ``p`` preferred values (``m`` features side by side).
    sigma: tuning width in stimulus units; ``None`` means the spacing of the
        preferred values.
    """

    low: float = 0.0
    high: float = 1.0
    sigma: float | None = None
    max_rate: float = 100.0
    circular: bool = False
    size: int | None = None
    feature = "PopulationCode"

    def __post_init__(self):
        low = check.real("PopulationCode", "low", self.low)
        high = check.real("PopulationCode", "high", self.high)
        if high <= low:
            raise ValueError(f"PopulationCode: parameter 'high' must be > low ({low}), got {high}")
        if self.sigma is not None:
            check.real("PopulationCode", "sigma", self.sigma, positive=True)
        object.__setattr__(self, "max_rate",
                           check.real("PopulationCode", "max_rate", self.max_rate, nonnegative=True, unit="hertz"))
        check.flag("PopulationCode", "circular", self.circular)
        if self.size is not None:
            check.integer("PopulationCode", "size", self.size, minimum=1)

    def _group(self, n) -> int:
        n = check.integer("PopulationCode", "n", n, minimum=1)
        check.memory("PopulationCode", 24.0 * n, f"{n} neurons", "use fewer neurons")
        p = n if self.size is None else self.size
        if n % p:
            raise ValueError(f"PopulationCode: an input of n={n} neurons cannot be split into groups of "
                             f"size={p} neurons; n must be a multiple of size")
        return p

    def preferred(self, n: int) -> np.ndarray:
        """Preferred stimulus of each of ``n`` neurons, shape (n,)."""
        p = self._group(n)
        if self.circular:
            grid = self.low + (self.high - self.low) * np.arange(p) / p
        elif p == 1:
            grid = np.array([(self.low + self.high) / 2])
        else:
            grid = np.linspace(self.low, self.high, p)
        return np.tile(grid, n // p)

    def width(self, n: int) -> float:
        """Tuning width ``sigma`` used for an input of ``n`` neurons."""
        if self.sigma is not None:
            return float(self.sigma)
        p = self._group(n)
        span = self.high - self.low
        return span / p if self.circular else span / max(p - 1, 1)

    def stimulus(self, x, n: int) -> np.ndarray:
        """Per-neuron stimulus array for an input of ``n`` neurons.

        ``x``: one value per sample, shape ``(...)``, when ``size`` is None;
        ``(..., n // size)`` values, one per group, otherwise. Returns shape
        ``(..., n)``.
        """
        p = self._group(n)
        x = _real_array("PopulationCode", "x", x)
        if self.size is None:
            return np.repeat(x[..., None], n, axis=-1)
        if x.ndim == 0 or x.shape[-1] != n // p:
            raise ValueError(f"PopulationCode: with size={p}, an input of n={n} neurons encodes {n // p} "
                             f"values per sample, so x must have shape (..., {n // p}), got {x.shape}")
        return np.repeat(x, p, axis=-1)

    def rates(self, values) -> np.ndarray:
        """Firing rate (Hz) of each neuron for per-neuron stimulus ``values``
        of shape (..., n); same shape."""
        x = _real_array("PopulationCode", "values", values)
        if x.ndim == 0:
            raise ValueError("PopulationCode: stimulus values must have shape (..., n), one per neuron, "
                             "got a scalar; use PopulationCode.stimulus(x, n)")
        n = x.shape[-1]
        if not self.circular and x.size and (x.min() < self.low or x.max() > self.high):
            raise ValueError(f"PopulationCode: stimulus values must lie in [low, high] = [{self.low}, "
                             f"{self.high}], got values in [{x.min()}, {x.max()}]")
        d = x - self.preferred(n)
        if self.circular:
            period = self.high - self.low
            d = np.mod(d + period / 2, period) - period / 2
        return self.max_rate * np.exp(-d ** 2 / (2 * self.width(n) ** 2))

    def encode(self, values, steps: int, dt: float, rng: np.random.Generator) -> np.ndarray:
        """Boolean raster of shape ``(steps, ..., n)`` for per-neuron stimulus ``values`` of shape ``(..., n)``:
        a spike with probability ``rates(values) * dt`` per step (``dt`` in seconds), drawn from ``rng``.
        Raises ValueError if ``max_rate * dt`` exceeds 1."""
        rates = self.rates(values)
        steps, dt = _window("PopulationCode", steps, dt, rates.size)
        p = rates * dt
        if self.max_rate * dt > 1.0:
            raise ValueError(f"PopulationCode: max_rate * dt = {self.max_rate * dt} exceeds 1 spike per step; it "
                             f"must be at most 1 (lower max_rate or dt)")
        return rng.random((steps,) + p.shape) < p


def pairing_protocol(dt: float, lags, periods, pairs: int = 1, margin: float = 0.05):
    """Input rasters of a spike-pairing protocol, one column per synapse.

    Column k has ``pairs`` presynaptic spikes every ``periods[k]`` seconds,
    each followed ``lags[k]`` seconds later (before it when negative) by a
    postsynaptic spike that a strong ``drive`` input forces: the drive spike
    comes one step earlier, since a delivery takes effect at the next
    threshold. Lags and spike times are rounded to whole steps ``dt``;
    ``margin`` seconds of silence come before the first and after the last
    spike. Returns ``(pre, drive)``, boolean arrays of shape (steps, n).
    """
    lags, periods = np.asarray(lags, dtype=np.float64), np.asarray(periods, dtype=np.float64)
    if lags.ndim != 1 or periods.shape != lags.shape:
        raise ValueError(f"pairing_protocol: 'lags' and 'periods' must be 1-D arrays of one length, got shapes "
                         f"{lags.shape} and {periods.shape}")
    n = len(lags)
    lag_steps = np.round(lags / dt).astype(int)
    first = int(round(margin / dt)) + max(0, -lag_steps.min(initial=0))
    pre_steps = first + np.round(np.arange(pairs)[:, None] * periods[None, :] / dt).astype(int)  # (pairs, n)
    steps = int(pre_steps.max(initial=first) + max(0, lag_steps.max(initial=0)) + round(margin / dt))
    pre, drive = np.zeros((steps, n), bool), np.zeros((steps, n), bool)
    columns = np.broadcast_to(np.arange(n), pre_steps.shape)
    pre[pre_steps, columns] = True
    drive[pre_steps + lag_steps - 1, columns] = True
    return pre, drive
