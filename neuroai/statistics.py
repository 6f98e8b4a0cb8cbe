r"""Firing statistics of spike trains: rates, ISI variability, synchrony, spike-train distances.

Units: spike times in seconds, rates in Hz, bin sizes and the van Rossum time
constant ``tau`` in seconds, the Victor–Purpura cost ``q`` in 1/s (Hz).

A spike train is a 1-D array of spike times in seconds (a ``neo.SpikeTrain``
or any ``quantities`` time array is accepted too). :func:`spike_trains` gives
one per neuron of a population of a :class:`~neuroai.SimulationResult`.

The rates, the CV and the distances take ``method``: ``"elephant"`` computes with
`Elephant <https://elephant.readthedocs.io>`_ (``pip install "neuroai[stats]"``),
``"numpy"`` with the vectorized implementation here, and ``"auto"`` (the
default) with Elephant when it is installed and numpy otherwise. Both give the
same numbers, to rounding (the test suite compares them). The binned
statistics (:func:`spike_counts`, :func:`population_fano_factor`,
:func:`synchrony_chi`) are numpy's only: Elephant bins spike trains too, but
has neither of these two measures (its ``fanofactor`` is that of the total
counts of several trains, such as trials).

Definitions
-----------
- rate of a neuron: spike count / run duration (Hz).
- ISI coefficient of variation: :math:`CV = \sigma / \mu` of the neuron's
  inter-spike intervals, with the population standard deviation (``ddof=0``, as
  ``elephant.statistics.cv``); 1 for a Poisson process, 0 for a regular train.
  NaN for neurons with fewer than ``min_intervals`` intervals.
- binned counts: :math:`c_i(k)`, the spikes of train :math:`i` in bin :math:`k`,
  the window ``[t_start, t_stop)`` cut into consecutive bins of ``bin_size``
  seconds (a last, partial bin is left out, and so are spikes outside the
  window). A spike within 1e-8 of a bin's width before an edge counts in the
  bin that starts there, so that spikes on a grid of time steps fall where
  their steps do (Elephant's ``BinnedSpikeTrain`` rounds the same way).
- population Fano factor: :math:`F = \operatorname{Var}_k[C(k)] / \operatorname{E}_k[C(k)]`
  of the population count :math:`C(k) = \sum_i c_i(k)` (variance over bins,
  ``ddof=0``). 1 for independent Poisson trains at any bin size; above 1 when
  the neurons fire together (it grows with the number of neurons that do).
- synchrony :math:`\chi` (Golomb & Rinzel 1993; Golomb 2007, Scholarpedia
  2(1):1347), with binned counts in place of membrane potentials:
  :math:`\chi^2 = \operatorname{Var}_k[\tfrac1N \sum_i c_i(k)] \,/\,
  \tfrac1N \sum_i \operatorname{Var}_k[c_i(k)]`. Between 0 and 1: 1 when every
  train has the same counts, about :math:`1/\sqrt N` for N independent trains,
  and toward 0 for an asynchronous population as N grows.
- van Rossum distance (van Rossum 2001): with
  :math:`f(t) = \sum_i e^{-(t - t_i)/\tau} H(t - t_i)`,
  :math:`D = \sqrt{\tfrac{2}{\tau}\int (f_a - f_b)^2\,dt}
  = \sqrt{\sum_{ij} k(a_i - a_j) + \sum_{ij} k(b_i - b_j) - 2\sum_{ij} k(a_i - b_j)}`
  with :math:`k(x) = e^{-|x|/\tau}`. Normalized as Elephant's: one spike
  against none is 1 (divide by :math:`\sqrt 2` for the paper's normalization).
- Victor–Purpura distance (Victor & Purpura 1996): the least total cost of
  turning train ``a`` into train ``b`` by deleting or inserting spikes (cost 1
  each) and shifting a spike by :math:`\Delta t` (cost :math:`q|\Delta t|`).
  ``q = 0`` counts only the difference in spike counts; ``q = inf`` is the
  limit, where only exactly coincident spikes may stay:
  ``len(a) + len(b) - 2 * coincidences``. (Elephant returns ``len(a) + len(b)``
  there, even for a train against itself, so this case is computed here on
  both paths.)

Distances take spike trains ``a`` and ``b`` and return: a float for two single
trains; the (N, N) matrix of all pairs for one sequence of N trains (``b``
omitted); the (N,) distances ``a[i]`` to ``b[i]`` for two sequences of N trains
(e.g. the same population run on two backends).
"""
from __future__ import annotations

import math
import warnings
from numbers import Real

import numpy as np

from . import validation as check
from .results import SimulationResult

__all__ = ["spike_trains", "firing_rates", "isi_cv", "spike_counts", "population_fano_factor", "synchrony_chi",
           "van_rossum_distance", "victor_purpura_distance"]

METHODS = ("auto", "elephant", "numpy")
_BLOCK = 1 << 22  # most kernel entries held at once by the numpy van Rossum path (32 MB)
_EDGE = 1e-8      # binning: a spike this close (in bins) before an edge counts in the next bin


# --- inputs -------------------------------------------------------------------

def _use_elephant(owner: str, method: str) -> bool:
    check.choice(owner, "method", method, METHODS)
    if method == "numpy":
        return False
    try:
        import elephant.spike_train_dissimilarity  # noqa: F401
        import elephant.statistics  # noqa: F401
    except ImportError as err:
        if method == "elephant":
            raise ImportError(f'{owner}: method="elephant" needs Elephant: pip install "neuroai[stats]"') from err
        return False
    return True


class NotRecorded(KeyError, ValueError):
    """A population or input whose spikes a result does not hold (a ``KeyError`` and a ``ValueError``)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def recorded_spikes(owner: str, result, name, param: str = "population"):
    """The :class:`~neuroai.results.Spikes` of ``name`` in ``result`` (a SimulationResult), or an error
    naming ``owner`` and the parameter ``param`` (:class:`NotRecorded` when ``name`` holds no recorded spikes)."""
    if not isinstance(result, SimulationResult):
        raise TypeError(f"{owner}: parameter 'result' must be a SimulationResult, got {type(result).__name__}")
    if not isinstance(name, str) or name not in result.spikes:
        raise NotRecorded(f"{owner}: parameter '{param}' must name a population or input whose spikes were "
                          f"recorded; no spikes recorded for {name!r}; recorded: {sorted(result.spikes)}")
    return result.spikes[name]


def _elephant_range(x: float) -> bool:
    """Whether a time constant or cost ``x`` is one Elephant computes with (0, or a normal float up to
    1e300): beyond, its arithmetic underflows or overflows to NaN, and the numpy path is used."""
    return x == 0 or np.finfo(float).tiny <= x <= 1e300


def _times(owner: str, train) -> np.ndarray:
    """One spike train as a sorted float array of seconds."""
    if hasattr(train, "rescale"):  # neo.SpikeTrain or quantities.Quantity
        train = train.rescale("s").magnitude
    if isinstance(train, (str, bytes)):
        raise TypeError(f"{owner}: a spike train must be an array of times in seconds, got {train!r}")
    t = check.reals(owner, "spike train", train, finite=False)
    if t.ndim != 1:
        raise ValueError(f"{owner}: a spike train must be a 1-D array of times in seconds, got shape {t.shape}")
    if not np.all(np.isfinite(t)):
        raise ValueError(f"{owner}: spike times must be finite")
    return np.sort(t)


def _is_single(train) -> bool:
    if hasattr(train, "rescale"):
        return True
    if isinstance(train, np.ndarray):
        return train.ndim == 1 and train.dtype != object
    return isinstance(train, (list, tuple)) and all(isinstance(x, Real) for x in train) and len(train) > 0


def _trains(owner: str, trains) -> list[np.ndarray]:
    if isinstance(trains, np.ndarray) and trains.ndim == 2:
        return [_times(owner, row) for row in trains]
    if not (isinstance(trains, (list, tuple)) or (isinstance(trains, np.ndarray) and trains.ndim >= 1)):
        raise TypeError(f"{owner}: spike trains must be a sequence of spike trains (arrays of times in seconds), "
                        f"got {type(trains).__name__}")
    return [_times(owner, t) for t in trains]


def _labelled(trains: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """All spikes of sorted trains concatenated, with the index of their train."""
    sizes = np.array([len(t) for t in trains], dtype=np.int64)
    times = np.concatenate(trains) if trains else np.zeros(0)
    return times, np.repeat(np.arange(len(trains)), sizes)


def _quantity(t: np.ndarray):
    import quantities as pq
    return pq.Quantity(t, "s")


def spike_trains(result: SimulationResult, population: str) -> list[np.ndarray]:
    """The spike times (seconds, sorted) of each neuron of ``population``: a list of n arrays."""
    s = recorded_spikes("spike_trains", result, population)
    order = np.lexsort((s.steps, s.indices))
    times = np.asarray(s.steps)[order] * result.dt
    bounds = np.searchsorted(np.asarray(s.indices)[order], np.arange(s.n + 1))
    return [times[bounds[i]:bounds[i + 1]] for i in range(s.n)]


# --- rates and ISI variability -----------------------------------------------------

def firing_rates(result: SimulationResult, population: str, *, method: str = "auto") -> np.ndarray:
    """Mean firing rate of each neuron of ``population`` over the run, in Hz, shape (n,)."""
    s = recorded_spikes("firing_rates", result, population)
    if not _use_elephant("firing_rates", method):
        return np.bincount(s.indices, minlength=s.n) / result.duration
    import neo
    from elephant.statistics import mean_firing_rate
    t0, t1 = result.start_step * result.dt, (result.start_step + result.n_steps) * result.dt
    return np.array([float(mean_firing_rate(neo.SpikeTrain(t, t_stop=t1, t_start=t0, units="s"))
                           .rescale("Hz").magnitude) for t in spike_trains(result, population)])


def isi_cv(source, population: str | None = None, *, min_intervals: int = 2, method: str = "auto") -> np.ndarray:
    """Coefficient of variation of the inter-spike intervals of each train, shape (n,).

    - source: a :class:`~neuroai.SimulationResult` (then ``population`` names the
      population) or a sequence of spike trains (seconds).
    - min_intervals: trains with fewer intervals get NaN (at least 1).
    """
    owner = "isi_cv"
    min_intervals = check.integer(owner, "min_intervals", min_intervals, minimum=1)
    if isinstance(source, SimulationResult):
        if population is None:
            raise ValueError("isi_cv: parameter 'population' must name a population when 'source' is a "
                             "SimulationResult, got None")
        trains = spike_trains(source, population)
    else:
        trains = _trains(owner, source)
    out = np.full(len(trains), np.nan)
    if _use_elephant(owner, method):
        from elephant.statistics import cv, isi
        for i, t in enumerate(trains):
            if len(t) - 1 >= min_intervals:
                out[i] = float(cv(isi(t)))
        return out
    times, labels = _labelled(trains)
    same = labels[1:] == labels[:-1]
    d, lab = np.diff(times)[same], labels[1:][same]
    count = np.bincount(lab, minlength=len(trains))
    ok = count >= min_intervals
    mean = np.bincount(lab, d, minlength=len(trains))[ok] / count[ok]
    full_mean = np.zeros(len(trains))
    full_mean[ok] = mean
    var = np.bincount(lab, (d - full_mean[lab]) ** 2, minlength=len(trains))[ok] / count[ok]
    out[ok] = np.sqrt(var) / mean
    return out


# --- binned counts and synchrony ----------------------------------------------------

def _binned(owner: str, source, population, bin_size, t_start, t_stop):
    """The binned spikes of ``source``: (train index, bin index) of every spike inside the window, the
    number of trains and the number of bins (at least 2), per the module docstring's definition."""
    bin_size = check.real(owner, "bin_size", bin_size, positive=True, unit="second")
    if isinstance(source, SimulationResult):
        if population is None:
            raise ValueError(f"{owner}: parameter 'population' must name a population when 'source' is a "
                             f"SimulationResult, got None")
        s = recorded_spikes(owner, source, population)
        check.whole_steps(owner, "bin_size", bin_size, source.dt)  # bins of unequal steps would alias
        run = (source.start_step * source.dt, (source.start_step + source.n_steps) * source.dt)
        lo = run[0] if t_start is None else check.real(owner, "t_start", t_start, unit="second")
        hi = run[1] if t_stop is None else check.real(owner, "t_stop", t_stop, unit="second")
        if lo < run[0] - _EDGE * source.dt or hi > run[1] + _EDGE * source.dt:
            raise ValueError(f"{owner}: the window [t_start, t_stop) = [{lo:g}, {hi:g}) s must lie within the run, "
                             f"[{run[0]:g}, {run[1]:g}) s")
        times, labels, n = np.asarray(s.steps) * source.dt, np.asarray(s.indices, dtype=np.int64), s.n
    else:
        if population is not None:
            raise ValueError(f"{owner}: parameter 'population' applies to a SimulationResult only; 'source' is a "
                             f"sequence of spike trains, got population={population!r}")
        if t_stop is None:
            raise ValueError(f"{owner}: parameter 't_stop' (seconds) must be given for spike trains, got None")
        lo = 0.0 if t_start is None else check.real(owner, "t_start", t_start, unit="second")
        hi = check.real(owner, "t_stop", t_stop, unit="second")
        trains = _trains(owner, source)
        times, labels = _labelled(trains)
        n = len(trains)
    if n == 0:
        raise ValueError(f"{owner}: 'source' must hold at least one spike train, got none")
    n_bins = math.floor((hi - lo) / bin_size + _EDGE) if hi > lo else 0
    if n_bins < 2:
        raise ValueError(f"{owner}: the window [t_start, t_stop) = [{lo:g}, {hi:g}) s must hold at least 2 bins of "
                         f"bin_size={bin_size:g} s, got {max(n_bins, 0)}")
    bins = np.floor((times - lo) / bin_size + _EDGE).astype(np.int64)
    inside = (bins >= 0) & (bins < n_bins)
    return labels[inside], bins[inside], n, n_bins


def spike_counts(source, population: str | None = None, *, bin_size: float, t_start: float | None = None,
                 t_stop: float | None = None) -> np.ndarray:
    """Spike counts of each train in consecutive bins of ``bin_size`` seconds: int64, shape (n_trains, n_bins).

    - source: a :class:`~neuroai.SimulationResult` (then ``population`` names the population, ``bin_size``
      must be a whole number of its steps, and the window defaults to the run) or a sequence of spike
      trains (seconds; then ``t_stop`` is required and ``t_start`` defaults to 0).
    - t_start, t_stop: the window ``[t_start, t_stop)`` in seconds; it must hold at least 2 bins.

    See the module docstring for how spikes on a bin's edge are counted.
    """
    labels, bins, n, n_bins = _binned("spike_counts", source, population, bin_size, t_start, t_stop)
    check.memory("spike_counts", 8.0 * n * n_bins, f"a ({n}, {n_bins}) count matrix", "use larger bins")
    return np.bincount(labels * n_bins + bins, minlength=n * n_bins).reshape(n, n_bins)


def population_fano_factor(source, population: str | None = None, *, bin_size: float,
                           t_start: float | None = None, t_stop: float | None = None) -> float:
    """Fano factor (variance / mean, over bins) of the population's summed spike count in bins of
    ``bin_size`` seconds; dimensionless. 1 for independent Poisson trains; NaN when the window holds
    no spike. Arguments as :func:`spike_counts`; the definition is in the module docstring."""
    _, bins, _, n_bins = _binned("population_fano_factor", source, population, bin_size, t_start, t_stop)
    total = np.bincount(bins, minlength=n_bins).astype(np.float64)
    mean = total.mean()
    return float(total.var() / mean) if mean > 0 else math.nan


def synchrony_chi(source, population: str | None = None, *, bin_size: float, t_start: float | None = None,
                  t_stop: float | None = None) -> float:
    """Golomb's synchrony measure chi of the binned spike counts (bins of ``bin_size`` seconds), in
    [0, 1]: 1 for identical trains, about 1/sqrt(N) for N independent ones. NaN when no train's count
    varies (no spikes, say). Arguments as :func:`spike_counts`; the definition is in the module
    docstring. Time and memory grow with the spikes, not with trains x bins."""
    labels, bins, n, n_bins = _binned("synchrony_chi", source, population, bin_size, t_start, t_stop)
    population_count = np.bincount(bins, minlength=n_bins) / n
    # each train's variance over bins, from its nonzero counts: E[c^2] - E[c]^2
    cells, counts = np.unique(labels * n_bins + bins, return_counts=True)
    train = cells // n_bins
    mean = np.bincount(train, counts, minlength=n) / n_bins
    var = np.maximum(np.bincount(train, counts.astype(np.float64) ** 2, minlength=n) / n_bins - mean ** 2, 0.0)
    single = var.mean()
    if single == 0:
        return math.nan
    return float(min(np.sqrt(population_count.var() / single), 1.0))  # (rounding can only push it past 1)


# --- distances -------------------------------------------------------------------

def _is_empty(x) -> bool:
    if isinstance(x, np.ndarray):
        return x.shape == (0,)
    return isinstance(x, (list, tuple)) and len(x) == 0


def _pairwise(owner: str, a, b, pair_fn, matrix_fn):
    """Dispatch on the shapes documented in the module docstring (an empty
    list next to a train, or two empty lists, are two single trains)."""
    if b is not None and (_is_single(a) or _is_empty(a)) and (_is_single(b) or _is_empty(b)):
        return float(pair_fn(_times(owner, a), _times(owner, b)))
    if b is None:
        if _is_single(a):
            raise ValueError(f"{owner}: parameter 'b' must be a second spike train when 'a' is one (or give a "
                             f"sequence of trains as 'a' for the pairwise matrix), got None")
        return matrix_fn(_trains(owner, a))
    ta, tb = _trains(owner, a), _trains(owner, b)
    if len(ta) != len(tb):
        raise ValueError(f"{owner}: 'a' and 'b' must hold as many trains, got {len(ta)} and {len(tb)}")
    return np.array([pair_fn(x, y) for x, y in zip(ta, tb)], dtype=float)


def _kernel_sum(x: np.ndarray, y: np.ndarray, tau: float) -> float:
    """sum_ij exp(-|x_i - y_j| / tau), in blocks of at most _BLOCK entries."""
    if len(x) == 0 or len(y) == 0:
        return 0.0
    rows = max(1, _BLOCK // len(y))
    return float(sum(np.exp(-np.abs(x[k:k + rows, None] - y[None, :]) / tau).sum() for k in range(0, len(x), rows)))


def _vr_pair(a: np.ndarray, b: np.ndarray, tau: float) -> float:
    d2 = _kernel_sum(a, a, tau) + _kernel_sum(b, b, tau) - 2.0 * _kernel_sum(a, b, tau)
    return float(np.sqrt(max(d2, 0.0)))


def _vr_matrix(trains: list[np.ndarray], tau: float) -> np.ndarray:
    """All pairs at once: K[i, j] = sum of the kernel over the spikes of trains
    i and j, from blocks of rows of the all-spikes kernel matrix summed per
    train with reduceat."""
    n = len(trains)
    times, labels = _labelled(trains)
    K = np.zeros((n, n))
    if len(times) == 0:
        return K
    sizes = np.array([len(t) for t in trains], dtype=np.int64)
    nonempty = np.flatnonzero(sizes)
    col_starts = np.concatenate([[0], np.cumsum(sizes[nonempty])[:-1]])
    rows = max(1, _BLOCK // len(times))
    for lo in range(0, len(times), rows):
        E = np.exp(-np.abs(times[lo:lo + rows, None] - times[None, :]) / tau)
        per_col = np.add.reduceat(E, col_starts, axis=1)
        lab = labels[lo:lo + rows]
        first = np.concatenate([[0], np.flatnonzero(np.diff(lab)) + 1])
        K[np.ix_(lab[first], nonempty)] += np.add.reduceat(per_col, first, axis=0)
    diag = np.diag(K)
    return np.sqrt(np.maximum(diag[:, None] + diag[None, :] - 2.0 * K, 0.0))


def van_rossum_distance(a, b=None, *, tau: float, method: str = "auto"):
    """van Rossum distance with time constant ``tau`` (seconds); see the module docstring.

    Cost: O(n_a n_b) per pair (the numpy path) or O(n_a + n_b) (Elephant's).
    """
    owner = "van_rossum_distance"
    tau = check.real(owner, "tau", tau, positive=True)
    if _use_elephant(owner, method) and _elephant_range(tau):
        import quantities as pq
        from elephant.spike_train_dissimilarity import van_rossum_distance as vr

        def quiet_vr(ts):
            # Elephant clips rounding below zero to 0, as the numpy path does, and warns each time
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", "van_rossum_distance: very small negative", RuntimeWarning)
                return np.asarray(vr([_quantity(t) for t in ts], time_constant=tau * pq.s), dtype=float)

        def pair(x, y):
            # a train is at distance 0 from itself; Elephant's recursion leaves ~1e-7 of rounding there
            return 0.0 if np.array_equal(x, y) else float(quiet_vr([x, y])[0, 1])

        def matrix(ts):
            return quiet_vr(ts)
    else:
        def pair(x, y):
            return _vr_pair(x, y, tau)

        def matrix(ts):
            return _vr_matrix(ts, tau)
    return _pairwise(owner, a, b, pair, matrix)


def _coincidences(a: np.ndarray, b: np.ndarray) -> int:
    """Spikes of a that can be matched one to one with spikes of b at exactly the same time."""
    ua, ca = np.unique(a, return_counts=True)
    ub, cb = np.unique(b, return_counts=True)
    _, ia, ib = np.intersect1d(ua, ub, assume_unique=True, return_indices=True)
    return int(np.minimum(ca[ia], cb[ib]).sum())


def _vp_pair(a: np.ndarray, b: np.ndarray, q: float) -> float:
    """Dynamic programme of Victor & Purpura (1996), one row per spike of the
    shorter train, each row vectorized: G[i, j] = min(G[i-1, j] + 1,
    G[i, j-1] + 1, G[i-1, j-1] + q |a_i - b_j|)."""
    if np.isinf(q):
        return float(len(a) + len(b) - 2 * _coincidences(a, b))
    if len(a) == 0 or len(b) == 0:
        return float(max(len(a), len(b)))
    if len(a) > len(b):
        a, b = b, a
    j = np.arange(len(b) + 1, dtype=float)
    G = j.copy()  # row 0: insert the first j spikes of b
    H = np.empty_like(G)
    for i, t in enumerate(a, start=1):
        H[0] = i
        np.minimum(G[1:] + 1.0, G[:-1] + q * np.abs(t - b), out=H[1:])
        # the insertion term G[i, j-1] + 1 runs along the row: a running minimum
        G = np.minimum.accumulate(H - j) + j
    return float(G[-1])


def victor_purpura_distance(a, b=None, *, q: float, method: str = "auto"):
    """Victor–Purpura distance with shift cost ``q`` per second (Hz, ``>= 0``,
    ``inf`` allowed); see the module docstring. Cost: O(n_a n_b) per pair."""
    owner = "victor_purpura_distance"
    try:
        cost = math.nan if isinstance(q, bool) or not isinstance(q, Real) else float(q)
    except OverflowError:  # (an int beyond floating point)
        cost = math.inf if q > 0 else math.nan
    if math.isnan(cost) or cost < 0:
        raise ValueError(f"{owner}: parameter 'q' must be a real number >= 0 (1/s; inf allowed), got {q!r}")
    q = cost
    if _use_elephant(owner, method) and _elephant_range(q):
        import quantities as pq
        from elephant.spike_train_dissimilarity import victor_purpura_distance as vp

        def pair(x, y):
            return float(vp([_quantity(x), _quantity(y)], cost_factor=q * pq.Hz)[0, 1])

        def matrix(ts):
            return np.asarray(vp([_quantity(t) for t in ts], cost_factor=q * pq.Hz), dtype=float)
    else:
        def pair(x, y):
            return _vp_pair(x, y, q)

        def matrix(ts):
            n = len(ts)
            out = np.zeros((n, n))
            for i in range(n):
                for k in range(i):
                    out[i, k] = out[k, i] = _vp_pair(ts[i], ts[k], q)
            return out
    return _pairwise(owner, a, b, pair, matrix)
