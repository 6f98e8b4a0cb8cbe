"""Decoders and analyses of spike trains (numpy only).

Spikes come in one of two forms, and every function accepts both:

- a :class:`~neuroai.results.SimulationResult` and the ``name`` of a
  monitored population or input. A result of :meth:`Simulator.present` is cut
  into trials at its ``windows`` (time measured from each sample's onset;
  spikes outside the windows are ignored): outputs have shape
  ``(n_samples, n)``. Any other result is one trial from the start of the
  run: outputs have shape ``(n,)``;
- a spike raster, boolean (or 0/1) of shape ``(steps, ..., n)`` with time
  first as the encoders make it, and its time step ``dt`` (seconds): outputs
  have shape ``(..., n)``, one trial per index of the middle axes.

Times are in seconds from trial onset and windows are half-open, ``[start,
stop)``, rounded to whole steps. Rates are in Hz.

Readouts: :func:`spike_counts`, :func:`windowed_rate`,
:func:`first_spike_times`, :func:`population_vector` (angles and lines),
:func:`tuning_curves`, :func:`fit_cosine_tuning`; classifiers
:class:`NearestClassMean`, :class:`LabelAssignment` (the readout of
unsupervised networks), :class:`LinearClassifier` and the regression
:class:`LinearDecoder`; and the accuracy of a readout as a function of its
window, :func:`accuracy_vs_window`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from . import validation as check
from .results import SimulationResult
from .statistics import recorded_spikes

TWO_PI = 2 * np.pi


# --- trials -----------------------------------------------------------------

@dataclass(frozen=True)
class _Trials:
    """Spikes as events of (trial, step from trial onset, neuron)."""

    trial: np.ndarray
    step: np.ndarray
    neuron: np.ndarray
    shape: tuple[int, ...]   # trial axes of the output: (), (n_samples,) or the raster's middle axes
    n: int
    n_steps: int             # steps per trial
    dt: float

    @property
    def n_trials(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def steps_of(self, owner: str, name: str, t: float) -> int:
        """Time ``t`` (seconds from onset) as a whole number of steps."""
        t = check.real(owner, name, t, nonnegative=True)
        if t / self.dt > check.MAX_STEPS:
            raise ValueError(f"{owner}: parameter '{name}' must be at most {check.MAX_STEPS} steps of "
                             f"dt={self.dt:g} s, got {t!r} s")
        return int(round(t / self.dt))

    def dense(self, flat: np.ndarray) -> np.ndarray:
        """(n_trials * n,) -> trial shape + (n,)."""
        return flat.reshape(self.shape + (self.n,))


def _trials(owner: str, spikes, name, dt) -> _Trials:
    if isinstance(spikes, SimulationResult):
        if name is None:
            raise ValueError(f"{owner}: parameter 'name' must name a monitored population or input "
                             f"when spikes are a SimulationResult; recorded: {sorted(spikes.spikes)}")
        if dt is not None and dt != spikes.dt:
            raise ValueError(f"{owner}: parameter 'dt' must be left out or equal the result's dt "
                             f"({spikes.dt} s), got {dt!r}")
        s = recorded_spikes(owner, spikes, name, "name")
        steps = np.asarray(s.steps, dtype=np.int64)
        idx = np.asarray(s.indices, dtype=np.int64)
        if spikes.windows is None:
            return _Trials(np.zeros(len(steps), np.int64), steps - spikes.start_step, idx, (), s.n,
                           spikes.n_steps, spikes.dt)
        win = np.asarray(spikes.windows, dtype=np.int64)
        k = np.searchsorted(win[:, 0], steps, side="right") - 1
        inside = (k >= 0) & (steps < win[np.maximum(k, 0), 1])
        k = k[inside]
        return _Trials(k, steps[inside] - win[k, 0], idx[inside], (len(win),), s.n,
                       int((win[:, 1] - win[:, 0]).max(initial=0)), spikes.dt)
    if name is not None:
        raise ValueError(f"{owner}: parameter 'name' is only for a SimulationResult; spikes given as a "
                         f"raster need name=None, got {name!r}")
    if dt is None:
        raise ValueError(f"{owner}: parameter 'dt' (the time step in seconds) is required with a spike raster")
    dt = check.real(owner, "dt", dt, positive=True)
    raster = check.as_array(owner, "spikes", spikes, "a SimulationResult or a boolean (0/1) raster")
    if raster.dtype != bool:
        if raster.dtype.kind not in "iuf" or not np.all((raster == 0) | (raster == 1)):
            raise TypeError(f"{owner}: spikes must be a SimulationResult or a boolean (0/1) raster, "
                            f"got an array of dtype {raster.dtype}")
        raster = raster.astype(bool)
    if raster.ndim < 2:
        raise ValueError(f"{owner}: a spike raster must have shape (steps, ..., n), got {raster.shape}")
    steps, n = raster.shape[0], raster.shape[-1]
    t, k, i = np.nonzero(raster.reshape(steps, int(np.prod(raster.shape[1:-1], dtype=np.int64)), n))
    return _Trials(k.astype(np.int64), t.astype(np.int64), i.astype(np.int64), raster.shape[1:-1], n, steps, dt)


def _cumulative_counts(tr: _Trials, stops: np.ndarray) -> np.ndarray:
    """Spikes with step < s for each s in ``stops`` (sorted, unique):
    shape (len(stops), n_trials * n)."""
    pos = np.searchsorted(stops, tr.step, side="right")  # event counts for stops[j] with j >= pos
    keep = pos < len(stops)
    hist = np.zeros((len(stops), tr.n_trials * tr.n), dtype=np.int64)
    np.add.at(hist, (pos[keep], tr.trial[keep] * tr.n + tr.neuron[keep]), 1)
    return np.cumsum(hist, axis=0)


# --- readouts -----------------------------------------------------------------

def spike_counts(spikes, name: str | None = None, *, t_start: float = 0.0, t_stop: float | None = None,
                 dt: float | None = None) -> np.ndarray:
    """Spikes of each neuron in ``[t_start, t_stop)`` seconds after trial
    onset (``t_stop=None``: to the end of the trial); int64, shape
    trials + (n,)."""
    tr = _trials("spike_counts", spikes, name, dt)
    a = tr.steps_of("spike_counts", "t_start", t_start)
    b = tr.n_steps if t_stop is None else tr.steps_of("spike_counts", "t_stop", t_stop)
    if b <= a:
        raise ValueError(f"spike_counts: parameter 't_stop' must be later than t_start ({t_start} s), "
                         f"got {t_stop} s")
    sel = (tr.step >= a) & (tr.step < b)
    flat = np.bincount(tr.trial[sel] * tr.n + tr.neuron[sel], minlength=tr.n_trials * tr.n)
    return tr.dense(flat.astype(np.int64))


def windowed_rate(spikes, name: str | None = None, *, window: float, step: float | None = None,
                  dt: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Firing rate (Hz) in windows of ``window`` seconds every ``step``
    seconds (default ``window``: adjacent bins) across each trial.

    Returns ``(starts, rates)``: window start times (seconds from onset),
    shape (n_windows,), and rates of shape (n_windows,) + trials + (n,).
    Only whole windows that fit in the trial are used.
    """
    tr = _trials("windowed_rate", spikes, name, dt)
    w = tr.steps_of("windowed_rate", "window", window)
    s = w if step is None else tr.steps_of("windowed_rate", "step", step)
    if w < 1 or s < 1:
        raise ValueError(f"windowed_rate: 'window' and 'step' must be at least one step (dt={tr.dt} s), "
                         f"got window={window}, step={step}")
    starts = np.arange(0, tr.n_steps - w + 1, s)
    if not len(starts):
        raise ValueError(f"windowed_rate: parameter 'window' must fit in a trial of {tr.n_steps * tr.dt} s, "
                         f"got {window} s")
    edges = np.unique(np.concatenate([starts, starts + w]))
    cum = _cumulative_counts(tr, edges)
    counts = cum[np.searchsorted(edges, starts + w)] - cum[np.searchsorted(edges, starts)]
    rates = counts / (w * tr.dt)
    return starts * tr.dt, rates.reshape((len(starts),) + tr.shape + (tr.n,))


def first_spike_times(spikes, name: str | None = None, *, dt: float | None = None) -> np.ndarray:
    """Time of each neuron's first spike in seconds from trial onset (``inf``
    where it stays silent), shape trials + (n,)."""
    tr = _trials("first_spike_times", spikes, name, dt)
    first = np.full(tr.n_trials * tr.n, np.inf)
    np.minimum.at(first, tr.trial * tr.n + tr.neuron, tr.step * tr.dt)
    return tr.dense(first)


def population_vector(rates, preferred, *, period: float | None = None, baseline=0.0, scale=1.0) -> np.ndarray:
    """Population-vector estimate of the stimulus from ``rates`` (..., n).

    Each neuron votes for its ``preferred`` value (shape (n,)) with weight
    ``(rates - baseline) / scale`` (``baseline`` and ``scale``: scalars or
    shape (n,), for instance the fit of :func:`fit_cosine_tuning`).

    ``period=None`` (a line): the centre of mass
    ``sum(w * preferred) / sum(w)``. ``period`` given (an angle of that
    period, ``2*pi`` for radians): the direction of the vector sum
    ``sum(w * exp(2j*pi*preferred/period))`` (Georgopoulos et al. 1986),
    returned in ``[0, period)``. NaN where the weights sum to zero (line) or
    the vector vanishes (angle). Returns shape (...).
    """
    owner = "population_vector"
    r = check.reals(owner, "rates", rates)
    pref = check.reals(owner, "preferred", preferred)
    if r.ndim == 0 or pref.shape != (r.shape[-1],):
        raise ValueError(f"population_vector: parameter 'preferred' must have shape (n,) matching rates "
                         f"(..., n), got preferred {pref.shape} and rates {r.shape}")
    base, sc = check.reals(owner, "baseline", baseline), check.reals(owner, "scale", scale)
    for name, value in (("baseline", base), ("scale", sc)):
        if value.shape not in ((), pref.shape):
            raise ValueError(f"{owner}: parameter '{name}' must be a number or have shape {pref.shape} (one per "
                             f"neuron), got shape {value.shape}")
    if np.any(sc == 0):
        raise ValueError(f"{owner}: parameter 'scale' must be nonzero everywhere, got {scale!r}")
    w = (r - base) / sc
    if period is None:
        total = w.sum(-1)
        num = w @ pref
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total != 0, num / np.where(total != 0, total, 1.0), np.nan)
    period = check.real("population_vector", "period", period, positive=True)
    phase = TWO_PI * pref / period
    x, y = w @ np.cos(phase), w @ np.sin(phase)
    angle = np.mod(np.arctan2(y, x), TWO_PI) * (period / TWO_PI)
    angle = np.where(angle < period, angle, 0.0)  # the mod of a tiny negative angle rounds to the period
    return np.where(np.hypot(x, y) > 0, angle, np.nan)


def angular_difference(a, b, period: float = TWO_PI) -> np.ndarray:
    """``a - b`` wrapped into ``[-period/2, period/2)``."""
    period = check.real("angular_difference", "period", period, positive=True)
    a, b = check.reals("angular_difference", "a", a), check.reals("angular_difference", "b", b)
    try:
        np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(f"angular_difference: parameters 'a' and 'b' must have shapes that broadcast together, "
                         f"got {a.shape} and {b.shape}") from None
    d = a - b
    return np.mod(d + period / 2, period) - period / 2


class TuningCurves(NamedTuple):
    """Mean response per stimulus value: ``stimuli`` (k,), ``mean`` and
    ``sem`` (standard error of the mean; 0 for single trials) of shape (k, n),
    ``trials`` (k,) per value."""

    stimuli: np.ndarray
    mean: np.ndarray
    sem: np.ndarray
    trials: np.ndarray


def tuning_curves(responses, stimuli) -> TuningCurves:
    """Tuning curves from ``responses`` (n_trials, n), e.g. rates or counts,
    and the stimulus value of each trial, ``stimuli`` (n_trials,)."""
    resp = check.reals("tuning_curves", "responses", responses)
    stim = _labels("tuning_curves", "stimuli", stimuli, len(resp) if resp.ndim else 0)
    if resp.ndim != 2 or stim.shape != (resp.shape[0],):
        raise ValueError(f"tuning_curves: 'responses' must have shape (n_trials, n) and 'stimuli' "
                         f"(n_trials,), got {resp.shape} and {stim.shape}")
    values, inv, cnt = np.unique(stim, return_inverse=True, return_counts=True)
    sums = np.zeros((len(values), resp.shape[1]))
    sq = np.zeros_like(sums)
    np.add.at(sums, inv, resp)
    mean = sums / cnt[:, None]
    np.add.at(sq, inv, (resp - mean[inv]) ** 2)
    dof = np.maximum(cnt - 1, 1)[:, None]
    sem = np.sqrt(sq / dof) / np.sqrt(cnt)[:, None]
    return TuningCurves(values, mean, sem, cnt)


@dataclass(frozen=True)
class CosineTuning:
    """Fitted cosine tuning ``r = baseline + depth * cos(theta - preferred)``
    per neuron (each field shape (n,); ``preferred`` in radians, [0, 2 pi))."""

    baseline: np.ndarray
    depth: np.ndarray
    preferred: np.ndarray

    def predict(self, angles) -> np.ndarray:
        """Rates for ``angles`` (...,) in radians: shape (..., n)."""
        a = np.asarray(angles, dtype=np.float64)[..., None]
        return self.baseline + self.depth * np.cos(a - self.preferred)


def fit_cosine_tuning(responses, angles) -> CosineTuning:
    """Least-squares fit of cosine tuning (Georgopoulos et al. 1982) to
    ``responses`` (n_trials, n) at ``angles`` (n_trials,) in radians."""
    resp = check.reals("fit_cosine_tuning", "responses", responses)
    a = check.reals("fit_cosine_tuning", "angles", angles)
    if resp.ndim != 2 or a.shape != (resp.shape[0],) or len(a) < 3:
        raise ValueError(f"fit_cosine_tuning: 'responses' must have shape (n_trials, n) with n_trials >= 3 "
                         f"and 'angles' (n_trials,), got {resp.shape} and {a.shape}")
    design = np.stack([np.ones_like(a), np.cos(a), np.sin(a)], axis=1)
    coef, *_ = np.linalg.lstsq(design, resp, rcond=None)
    return CosineTuning(coef[0], np.hypot(coef[1], coef[2]), np.mod(np.arctan2(coef[2], coef[1]), TWO_PI))


# --- classifiers and regression ---------------------------------------------------

def _features(owner: str, X, name: str = "X", *, fitting: bool = False) -> np.ndarray:
    """Finite features (n_trials, n_features); at least one trial to fit on."""
    X = check.reals(owner, name, X)
    if X.ndim != 2:
        raise ValueError(f"{owner}: parameter '{name}' (features) must have shape (n_trials, n_features), "
                         f"got {X.shape}")
    if fitting and len(X) == 0:
        raise ValueError(f"{owner}: parameter '{name}' must hold at least one trial to fit on, got shape {X.shape}")
    return X


def _labels(owner: str, name: str, y, n: int | None) -> np.ndarray:
    """Labels (n,) (None: any number) of one kind: integers, booleans, strings or finite floats."""
    try:
        y = np.asarray(y)
    except (TypeError, ValueError):
        raise TypeError(f"{owner}: parameter '{name}' must be an array of labels, got {type(y).__name__} "
                        f"that is no array") from None
    if y.dtype.kind not in "biufUS":
        raise TypeError(f"{owner}: parameter '{name}' must hold integers, strings or finite numbers, got an array of "
                        f"dtype {y.dtype}")
    if (y.ndim != 1) if n is None else (y.shape != (n,)):
        raise ValueError(f"{owner}: parameter '{name}' must have shape ({'n' if n is None else n},) (one label "
                         f"per trial), got {y.shape}")
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        raise ValueError(f"{owner}: parameter '{name}' must be finite, got NaN or inf")
    return y


def _fitted(owner: str, model, X) -> np.ndarray:
    """``X`` checked for ``model.predict``: the model was fitted, on as many features."""
    if not hasattr(model, "n_features_"):
        raise ValueError(f"{owner}: the model is not fitted; call fit(X, y) before predict")
    X = _features(owner, X)
    if X.shape[1] != model.n_features_:
        raise ValueError(f"{owner}: parameter 'X' must have {model.n_features_} columns (features), as in fit, "
                         f"got {X.shape[1]}")
    return X


def _ridge(X: np.ndarray, Y: np.ndarray, ridge: float) -> tuple[np.ndarray, np.ndarray]:
    """Least squares ``Y ~ X @ W + b`` with an unpenalized bias and an L2
    penalty ``ridge * mean(diag(Xc'Xc))`` on ``W``."""
    mx, my = X.mean(0), Y.mean(0)
    Xc, Yc = X - mx, Y - my
    gram = Xc.T @ Xc
    lam = ridge * max(np.trace(gram) / max(len(gram), 1), 1e-12)
    try:
        W = np.linalg.solve(gram + lam * np.eye(len(gram)), Xc.T @ Yc)
    except np.linalg.LinAlgError:
        W = None
    if W is None or not np.all(np.isfinite(W)):  # a (numerically) singular system: ridge 0 or subnormal, and
        W = np.linalg.lstsq(gram, Xc.T @ Yc, rcond=None)[0]   # collinear or constant features: the least norm
    return W, my - mx @ W


class NearestClassMean:
    """Assign each trial to the class whose mean training feature vector is
    nearest (Euclidean)."""

    def fit(self, X, y) -> "NearestClassMean":
        """Learn ``classes_`` (sorted unique labels) and ``means_`` (n_classes, n_features), the mean of
        each class's rows of ``X`` (n_trials, n_features), from labels ``y`` (n_trials,). Returns self."""
        X = _features("NearestClassMean.fit", X, fitting=True)
        y = _labels("NearestClassMean.fit", "y", y, len(X))
        self.classes_, inv = np.unique(y, return_inverse=True)
        sums = np.zeros((len(self.classes_), X.shape[1]))
        np.add.at(sums, inv, X)
        self.means_ = sums / np.bincount(inv)[:, None]
        self.n_features_ = X.shape[1]
        return self

    def predict(self, X) -> np.ndarray:
        """The class of each row of ``X`` (n_trials, n_features) whose mean is nearest, shape (n_trials,)."""
        X = _fitted("NearestClassMean.predict", self, X)
        d = (X ** 2).sum(1)[:, None] - 2 * X @ self.means_.T + (self.means_ ** 2).sum(1)[None]
        return self.classes_[np.argmin(d, axis=1)]


class LabelAssignment:
    """The readout of unsupervised spiking networks (Diehl & Cook 2015): each
    neuron is labelled with the class to which it responded most on average
    during training; a trial is classified as the class whose labelled
    neurons respond most on average.

    ``fit(X, y)``: X (n_trials, n_neurons) responses (spike counts), y
    (n_trials,) labels. ``labels_`` (n_neurons,) holds each neuron's class,
    or -1 for neurons that never responded (they take no part in voting).
    ``predict(X)`` returns -1 for trials in which no labelled neuron responded
    (counted wrong by any accuracy); ties go to the class listed first.
    """

    def fit(self, X, y) -> "LabelAssignment":
        """Label each neuron from responses ``X`` (n_trials, n_neurons) and labels ``y`` (n_trials,): sets
        ``classes_`` and ``labels_`` (n_neurons,), -1 for neurons that never responded. Returns self."""
        X = _features("LabelAssignment", X, fitting=True)
        y = _labels("LabelAssignment", "y", y, len(X))
        if y.dtype.kind not in "biuf":
            raise TypeError(f"LabelAssignment: parameter 'y' must hold numeric labels (-1 marks the neurons and "
                            f"trials without a class), got an array of dtype {y.dtype}")
        self.n_features_ = X.shape[1]
        self.classes_, inv = np.unique(y, return_inverse=True)
        sums = np.zeros((len(self.classes_), X.shape[1]))
        np.add.at(sums, inv, X)
        mean = sums / np.bincount(inv)[:, None]  # (classes, neurons)
        best = np.argmax(mean, axis=0)
        self.labels_ = np.where(mean.max(axis=0) > 0, self.classes_[best], -1)
        self._owner = np.where(self.labels_ >= 0, best, -1)  # class index of each neuron
        return self

    def predict(self, X) -> np.ndarray:
        """The class of each trial of ``X`` (n_trials, n_neurons) whose labelled neurons respond most on
        average, shape (n_trials,); -1 where no labelled neuron responded."""
        X = _fitted("LabelAssignment", self, X)
        votes = np.zeros((len(X), len(self.classes_)))
        for c in range(len(self.classes_)):
            members = self._owner == c
            if members.any():
                votes[:, c] = X[:, members].mean(axis=1)
        out = self.classes_[np.argmax(votes, axis=1)]
        return np.where(votes.max(axis=1) > 0, out, -1)


class LinearClassifier:
    """Least-squares linear classifier: regress one-hot class targets on the
    features (with bias and a small relative ridge), predict the largest
    output."""

    def __init__(self, ridge: float = 1e-3):
        self.ridge = check.real("LinearClassifier", "ridge", ridge, nonnegative=True)

    def fit(self, X, y) -> "LinearClassifier":
        """Fit ``W_`` (n_features, n_classes) and ``b_`` (n_classes,) by ridge regression of one-hot
        targets for labels ``y`` (n_trials,) on ``X`` (n_trials, n_features); sets ``classes_``. Returns self."""
        X = _features("LinearClassifier.fit", X, fitting=True)
        self.classes_, inv = np.unique(_labels("LinearClassifier.fit", "y", y, len(X)), return_inverse=True)
        self.n_features_ = X.shape[1]
        self.W_, self.b_ = _ridge(X, np.eye(len(self.classes_))[inv], self.ridge)
        return self

    def predict(self, X) -> np.ndarray:
        """The class with the largest output ``X @ W_ + b_`` for each row of ``X`` (n_trials, n_features),
        shape (n_trials,)."""
        X = _fitted("LinearClassifier.predict", self, X)
        return self.classes_[np.argmax(X @ self.W_ + self.b_, axis=1)]


class LinearDecoder:
    """Least-squares linear regression ``y ~ X @ W + b`` (with a small
    relative ridge), for continuous readouts such as a direction's
    ``(cos, sin)``."""

    def __init__(self, ridge: float = 1e-3):
        self.ridge = check.real("LinearDecoder", "ridge", ridge, nonnegative=True)

    def fit(self, X, Y) -> "LinearDecoder":
        """Fit ``W_`` and ``b_`` by ridge regression of targets ``Y`` (n_trials, ...) on ``X`` (n_trials,
        n_features); trailing target axes are flattened for the fit and restored by ``predict``. Returns self."""
        X = _features("LinearDecoder.fit", X, fitting=True)
        Y = check.reals("LinearDecoder.fit", "Y", Y)
        if Y.ndim == 0 or Y.shape[0] != X.shape[0]:
            raise ValueError(f"LinearDecoder: targets must have {X.shape[0]} rows like the features, "
                             f"got shape {Y.shape}")
        self.W_, self.b_ = _ridge(X, Y.reshape(len(Y), -1), self.ridge)
        self._shape = Y.shape[1:]
        self.n_features_ = X.shape[1]
        return self

    def predict(self, X) -> np.ndarray:
        """``X @ W_ + b_`` for ``X`` (n_trials, n_features), shape (n_trials, ...) like the training targets."""
        X = _fitted("LinearDecoder.predict", self, X)
        return (X @ self.W_ + self.b_).reshape((len(X),) + self._shape)


CLASSIFIERS = {"nearest_mean": NearestClassMean, "linear": LinearClassifier}


def _classifier(owner: str, classifier):
    if isinstance(classifier, str):
        check.choice(owner, "classifier", classifier, CLASSIFIERS)
        return CLASSIFIERS[classifier]()
    if not (hasattr(classifier, "fit") and hasattr(classifier, "predict")):
        raise TypeError(f"{owner}: parameter 'classifier' must be one of {list(CLASSIFIERS)} or an object "
                        f"with fit(X, y) and predict(X), got {type(classifier).__name__}")
    return classifier


def fold_indices(labels, folds: int, seed: int = 0) -> np.ndarray:
    """Fold (0..folds-1) of each trial: a seeded shuffle within each class,
    dealt round robin, so every fold holds each class in proportion."""
    y = _labels("fold_indices", "labels", labels, None)
    folds = check.integer("fold_indices", "folds", folds, minimum=2)
    if len(y) < folds:
        raise ValueError(f"fold_indices: parameter 'folds' must not exceed the {len(y)} trials, got {folds}")
    order = np.lexsort((np.random.default_rng(check.seed("fold_indices", seed)).random(len(y)), y))
    fold = np.empty(len(y), dtype=np.int64)
    fold[order] = np.arange(len(y)) % folds
    return fold


def cross_validated_accuracy(features, labels, *, classifier="nearest_mean", folds: int = 5,
                             seed: int = 0) -> float:
    """Fraction of trials classified correctly when each fold is predicted by
    a classifier trained on the others (``classifier``: ``"nearest_mean"``,
    ``"linear"`` or an object with fit/predict)."""
    X = _features("cross_validated_accuracy", features, "features")
    y = _labels("cross_validated_accuracy", "labels", labels, len(X))
    model = _classifier("cross_validated_accuracy", classifier)
    fold = fold_indices(y, folds, seed)
    correct = 0
    for k in range(folds):  # a handful of folds; each fit and predict is vectorized over trials
        test = fold == k
        correct += int(np.sum(model.fit(X[~test], y[~test]).predict(X[test]) == y[test]))
    return correct / len(y)


@dataclass(frozen=True)
class ReadoutCurve:
    """Decoding accuracy of a readout of the window ``[0, window)`` after
    onset: ``windows`` (s), ``accuracy`` and ``spikes`` (mean spikes per trial
    the readout used) per window, and ``chance`` (share of the commonest
    class)."""

    windows: np.ndarray
    accuracy: np.ndarray
    spikes: np.ndarray
    chance: float


def accuracy_vs_window(spikes, name: str | None, labels, windows, *, readout: str = "counts",
                       classifier="nearest_mean", folds: int = 5, seed: int = 0,
                       dt: float | None = None) -> ReadoutCurve:
    """Cross-validated decoding accuracy of the stimulus class ``labels``
    (one per trial) from the spikes in ``[0, w)`` after onset, for each
    readout window ``w`` in ``windows`` (seconds).

    readout: ``"counts"``, the spike count of each neuron (spikes used: all
    spikes in the window); ``"first_spike"``, each neuron's first-spike time,
    censored at ``w`` for neurons silent until then (spikes used: the first
    spikes that arrived).
    """
    owner = "accuracy_vs_window"
    check.choice(owner, "readout", readout, ("counts", "first_spike"))
    tr = _trials(owner, spikes, name, dt)
    if len(tr.shape) != 1:
        raise ValueError(f"{owner}: spikes must hold a flat list of trials (a presented result, or a raster "
                         f"(steps, n_trials, n)), got trial axes {tr.shape}")
    y = _labels(owner, "labels", labels, tr.shape[0])
    w = check.reals(owner, "windows", windows, finite=False).ravel()
    if not len(w) or not np.all(np.isfinite(w)) or np.any(w <= 0):
        raise ValueError(f"{owner}: parameter 'windows' must be positive times in seconds, got {windows!r}")
    stops = np.array([tr.steps_of(owner, "windows", t) for t in w])
    if readout == "counts":
        edges = np.unique(stops)
        feats = _cumulative_counts(tr, edges)[np.searchsorted(edges, stops)].reshape(len(w), tr.n_trials, tr.n)
        used = feats.sum(-1).mean(-1)
    else:
        first_step = np.full(tr.n_trials * tr.n, np.iinfo(np.int64).max)
        np.minimum.at(first_step, tr.trial * tr.n + tr.neuron, tr.step)
        fired = first_step.reshape(1, tr.n_trials, tr.n) < stops[:, None, None]
        feats = np.where(fired, first_step.reshape(1, tr.n_trials, tr.n), stops[:, None, None]) * tr.dt
        used = fired.sum(-1).mean(-1)
    acc = np.array([cross_validated_accuracy(f, y, classifier=classifier, folds=folds, seed=seed)
                    for f in feats])
    _, cnt = np.unique(y, return_counts=True)
    return ReadoutCurve(stops * tr.dt, acc, used.astype(np.float64), float(cnt.max() / len(y)))
