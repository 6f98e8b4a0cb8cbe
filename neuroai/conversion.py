r"""ANN-to-SNN conversion by data-based weight normalization.

A bias-free ReLU :class:`~neuroai.models.MLP` becomes a spiking network of
integrate-and-fire neurons with reset by subtraction (Diehl et al. 2015,
IJCNN; Rueckauer et al. 2017, Front. Neurosci.). Such a neuron driven by
``z`` per step fires ``min(max(z, 0), 1)`` spikes per step on average (the
charge left below threshold makes an error of at most 1/T spikes per step
after T steps), the ReLU of its drive. With activations
:math:`a_l = \mathrm{relu}(W_l a_{l-1})`, :math:`a_0` the pixels, and
:math:`\lambda_l` the ``percentile`` of layer l's positive activations on
calibration data (:math:`\lambda_0 = 1`, the input encoder's full scale),
the weights

.. math:: W'_l = W_l \, \lambda_{l-1} / \lambda_l

make layer l fire :math:`c\,a_l/\lambda_l` spikes per step, where
:math:`c` = ``max_rate * dt`` is the spikes per step of a white pixel:
rates proportional to the activations, saturating only for the few above
the percentile. The output spike counts therefore rank the classes as the
ANN's logits do, where these are positive.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral

import numpy as np
import torch
from torch import nn

from . import validation as check
from .backends import torch_coding
from .coding import RegularRate
from .models.mlp import MLP
from .models.snn import feedforward_network
from .network import Network
from .neurons import LIF
from .results import SimulationResult
from .simulator import Simulator

#: Membrane time constant of the converted neurons, in units of ``dt``: at
#: 1e17 steps, ``exp(-dt / tau_m)`` rounds to exactly 1.0 in float64 (and
#: float32), so the LIF model integrates without any leak, as the
#: conversion assumes (a leak would lower low rates most and bend the
#: rate-activation line), while both backends run their usual LIF code.
IF_TAU_STEPS = 1e17


@dataclass(frozen=True, eq=False)
class Conversion:
    """The converted network and its normalization.

    - network: the spiking network (see :func:`ann_to_network`).
    - scales: :math:`(\\lambda_0, \\lambda_1, ..., \\lambda_L)`, with
      :math:`\\lambda_0 = 1`; layer l's weights are the ANN's times
      :math:`\\lambda_{l-1} / \\lambda_l`.
    """

    network: Network
    scales: tuple[float, ...]


def _linear_layers(mlp) -> list[nn.Linear]:
    """The MLP's ``Linear`` layers, after checking it can be converted."""
    owner = "ann_to_network"
    if not isinstance(mlp, MLP):
        raise TypeError(f"{owner}: parameter 'mlp' must be a neuroai.models.MLP, got {type(mlp).__name__}")
    if mlp.activation != "relu":
        raise ValueError(f"{owner}: the MLP's activation must be 'relu' (the rate of an integrate-and-fire "
                         f"neuron is the ReLU of its drive), got {mlp.activation!r}")
    if mlp.batch_norm:
        raise ValueError(f"{owner}: the MLP must have no batch norm (fold it into the weights first), "
                         f"got batch_norm=True")
    linears = [m for m in mlp.layers if isinstance(m, nn.Linear)]
    if any(m.bias is not None for m in linears):
        raise ValueError(f"{owner}: the MLP must be bias-free (network projections have no biases), "
                         f"got Linear layers with biases; build it with MLP(..., bias=False)")
    return linears


def _images(owner: str, x, n: int) -> np.ndarray:
    """``x`` (n_samples, ...) as a float64 array (n_samples, n) in [0, 1]."""
    arr = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else check.as_array(owner, "x", x, "images")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{owner}: images must be a real array, got dtype {arr.dtype}")
    if arr.ndim < 2 or len(arr) == 0 or arr[0].size != n:
        raise ValueError(f"{owner}: images must have shape (n_samples, {n}) (or any shape that flattens "
                         f"to it), with n_samples >= 1, got {tuple(np.shape(x))}")
    arr = arr.reshape(len(arr), n).astype(np.float64)
    if not np.all(np.isfinite(arr)) or arr.min() < 0 or arr.max() > 1:
        raise ValueError(f"{owner}: images must lie in [0, 1], got values in [{arr.min()}, {arr.max()}]")
    return arr


def normalize_weights(mlp: MLP, calibration_x, *, percentile: float = 99.9
                      ) -> tuple[list[np.ndarray], tuple[float, ...]]:
    """Data-based normalization of a bias-free ReLU MLP.

    calibration_x: images (n_samples, ...) in [0, 1] that flatten to the
    MLP's input width. percentile: in (0, 100]; :math:`\\lambda_l` is this
    percentile of layer l's positive activations (zeros left out, as in the
    SNN toolbox of Rueckauer et al.; the output layer's logits pass a ReLU
    too, since output neurons fire only for positive drive); 100 gives the
    maximum (Diehl et al. 2015), 99.9 ignores rare outliers.

    Returns ``(weights, scales)``: one float64 array (n_in, n_out) per layer,
    :math:`W_l^T \\lambda_{l-1}/\\lambda_l` (pre, post), ready for
    :func:`neuroai.models.snn.feedforward_network`, and
    :math:`(\\lambda_0 = 1, \\lambda_1, ..., \\lambda_L)`.
    """
    linears = _linear_layers(mlp)
    p = check.real("ann_to_network", "percentile", percentile)
    if not 0.0 < p <= 100.0:
        raise ValueError(f"ann_to_network: parameter 'percentile' must be in (0, 100], got {percentile!r}")
    a = _images("ann_to_network", calibration_x, mlp.sizes[0])
    weights = [m.weight.detach().cpu().double().numpy() for m in linears]  # (n_out, n_in)
    scales = [1.0]
    for k, w in enumerate(weights):
        a = np.maximum(a @ w.T, 0.0)
        positive = a[a > 0]
        if positive.size == 0:
            raise ValueError(f"ann_to_network: parameter 'calibration_x' must drive every layer, but layer {k + 1} "
                             f"has no positive activation on it, so it cannot be normalized (a dead layer)")
        scales.append(float(np.percentile(positive, p)))
    return [w.T * (lo / hi) for w, lo, hi in zip(weights, scales[:-1], scales[1:])], tuple(scales)


def ann_to_network(mlp: MLP, calibration_x, *, percentile: float = 99.9, dt: float = 1e-3,
                   max_rate: float | None = None, encoder=None) -> Conversion:
    """Convert a trained bias-free ReLU MLP into a spiking network.

    The network is :func:`~neuroai.models.snn.feedforward_network` with the
    MLP's sizes, the weights of :func:`normalize_weights`, and
    integrate-and-fire neurons: ``LIF(tau_m=IF_TAU_STEPS * dt, v_th=1,
    reset="subtract")`` starting at 0 (no leak, see :data:`IF_TAU_STEPS`).
    Its input ``"input"`` is driven by ``encoder``, default
    ``RegularRate(max_rate)``: deterministic, evenly spaced spikes at a rate
    proportional to each pixel, so the network's response is deterministic.

    - mlp: a :class:`~neuroai.models.MLP` with ``activation="relu"``,
      ``bias=False``, ``batch_norm=False`` (dropout is allowed: it is
      inactive at evaluation).
    - calibration_x: images (n_samples, ...) in [0, 1], e.g. the training set.
    - percentile: see :func:`normalize_weights`.
    - dt: the network's time step (s).
    - max_rate: rate of a white pixel (Hz) for the default encoder, default
      ``1 / dt`` (one spike per step: rates are then the activations
      over :math:`\\lambda` per step). Give it or ``encoder``, not both.
    - encoder: a :class:`~neuroai.coding.RegularRate` or
      :class:`~neuroai.coding.PoissonRate` instead of the default.

    Returns a :class:`Conversion` (the network and the scales :math:`\\lambda`).
    """
    dt = check.real("ann_to_network", "dt", dt, positive=True)
    if encoder is not None and max_rate is not None:
        raise ValueError("ann_to_network: give 'max_rate' (for the default RegularRate encoder) or 'encoder', "
                         f"not both; got max_rate={max_rate!r} and encoder={encoder!r}")
    if encoder is None:
        encoder = RegularRate(max_rate=1.0 / dt if max_rate is None else max_rate)
    if not isinstance(encoder, torch_coding.ENCODERS):
        raise TypeError(f"ann_to_network: parameter 'encoder' must be one of "
                        f"{[e.__name__ for e in torch_coding.ENCODERS]}, got {type(encoder).__name__}")
    weights, scales = normalize_weights(mlp, calibration_x, percentile=percentile)
    neuron = LIF(tau_m=IF_TAU_STEPS * dt, v_th=1.0, reset="subtract")
    network = feedforward_network(mlp.sizes, weights, neuron=neuron, dt=dt, encoder=encoder)
    return Conversion(network, scales)


def _checkpoints(steps: int, checkpoints) -> np.ndarray:
    owner = "conversion_accuracy"
    if isinstance(checkpoints, (str, bytes)) or not isinstance(checkpoints, Sequence) or not checkpoints:
        raise TypeError(f"{owner}: parameter 'checkpoints' must be a non-empty sequence of step counts, "
                        f"got {checkpoints!r}")
    if any(isinstance(k, bool) or not isinstance(k, Integral) or not 1 <= k <= steps for k in checkpoints):
        raise ValueError(f"{owner}: parameter 'checkpoints' must hold integers in [1, steps={steps}], "
                         f"got {list(checkpoints)}")
    return np.asarray(checkpoints, dtype=np.int64)


def present(network: Network, x, *, steps: int, backend: str = "torch", seed: int = 0, **options):
    """Present each image of ``x`` (n_samples, ...) in [0, 1] to ``network``
    (from :func:`ann_to_network` or
    :func:`~neuroai.models.snn.feedforward_network`: an input ``"input"``, a
    population ``"output"``) for ``steps`` steps, as an independent trial
    from the network's initial state (:meth:`neuroai.Simulator.present` with
    ``independent=True``; the torch backend runs them as batches), so no
    charge carries from one sample to the next (integrate-and-fire neurons
    never forget it). ``seed`` seeds the input encoder; ``options`` go to the
    Simulator (torch ``dtype``, ``device``; brian2 ``target``). With a
    deterministic encoder and ``dtype="float64"`` both backends give the
    same spikes. Returns the :class:`~neuroai.SimulationResult`."""
    owner = "conversion.present"
    if not isinstance(network, Network):
        raise TypeError(f"{owner}: parameter 'network' must be a neuroai.Network, got {type(network).__name__}")
    if list(network.inputs) != ["input"] or "output" not in network.populations:
        raise ValueError(f"{owner}: the network must have one input 'input' and a population 'output' (as "
                         f"feedforward_network builds), got inputs {sorted(network.inputs)} and populations "
                         f"{sorted(network.populations)}")
    steps = check.integer(owner, "steps", steps, minimum=1)
    x = _images(owner, x, network.size("input"))
    return Simulator(network, backend, seed=seed, **options).present({"input": x}, steps * network.dt,
                                                                     independent=True)


def output_counts(result, checkpoints: Sequence[int]) -> np.ndarray:
    """Spikes of each output neuron in the first k steps of each trial of a
    :func:`present` result, for each checkpoint k: int64 array
    (len(checkpoints), n_samples, n_output)."""
    if not isinstance(result, SimulationResult) or result.windows is None or "output" not in result.spikes:
        raise TypeError(f"output_counts: parameter 'result' must be the SimulationResult of conversion.present "
                        f"(trials with the spikes of 'output'), got {type(result).__name__}")
    n_samples, = result.windows.shape[:1]
    steps = result.n_steps // n_samples
    ks = _checkpoints(steps, checkpoints)
    raster = result.raster("output").reshape(n_samples, steps, -1)
    return np.moveaxis(raster.cumsum(axis=1, dtype=np.int64)[:, ks - 1], 1, 0)


def conversion_accuracy(result, y, checkpoints: Sequence[int]) -> dict[int, float]:
    """Accuracy of a :func:`present` result as a function of simulated steps.

    For each checkpoint k, a sample's prediction is the output neuron with
    most spikes in its first k steps; ties go to the lowest index (so a
    silent output predicts class 0). y: integer labels (n_samples,).
    Returns ``{k: accuracy in [0, 1]}``.
    """
    counts = output_counts(result, checkpoints)
    labels = (y.detach().cpu().numpy() if isinstance(y, torch.Tensor)
              else check.as_array("conversion_accuracy", "y", y, "one integer label per sample"))
    if labels.shape != (counts.shape[1],) or labels.dtype.kind not in "iu":
        raise ValueError(f"conversion_accuracy: 'y' must hold one integer label per sample, shape "
                         f"({counts.shape[1]},), got shape {labels.shape} and dtype {labels.dtype}")
    hits = counts.argmax(axis=2) == labels  # argmax: first index among ties
    return {int(k): float(h.mean()) for k, h in zip(checkpoints, hits)}
