"""Unsupervised digit learning with STDP (Diehl & Cook 2015), as a Network.

Poisson inputs (one per pixel) project all-to-all onto excitatory neurons
with adaptive thresholds through plastic conductance synapses; each
excitatory neuron drives one inhibitory neuron, which inhibits every other
excitatory neuron (soft winner-take-all). STDP shapes the input weights,
and each neuron's summed input weight is held fixed (normalization), so the
neurons come to prefer different prototypes of the data. No labels are used
for learning: afterwards each neuron is labelled with the class it responds
to most (:class:`neuroai.decoding.LabelAssignment`).

The same description runs on every backend; the whole learner is
:func:`train` then :func:`evaluate`.
"""
from __future__ import annotations

import dataclasses
import io
import json
import time
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import validation as check
from ..coding import PoissonRate
from ..decoding import LabelAssignment
from ..experiments.records import atomic_write
from ..network import Network
from ..neurons import LIF, AdaptiveLIF
from ..plasticity import STDP, SynapticNormalization
from ..simulator import Simulator
from ..synapses import AllToAll, ExponentialConductance, OneToOne, Uniform

NS = 1e-9  # conductances below are in nanosiemens, as in the paper


@dataclass(frozen=True)
class DiehlCook:
    """The circuit's parameters; defaults follow Diehl & Cook (2015) for
    28 x 28 MNIST images (their code, `Diehl_Cook_spiking_MNIST.py`).

    Excitatory neurons: conductance-based LIF, tau_m 100 ms, rest/reset
    -65 mV, threshold -52 mV plus an adaptive ``theta`` that grows by
    ``theta_plus`` at each spike and decays with ``tau_theta``, refractory
    5 ms; excitatory (E = 0 V, tau 1 ms) and inhibitory (E = -100 mV, tau
    2 ms) conductances. Inhibitory neurons: tau_m 10 ms, rest -60 mV, reset
    -45 mV, threshold -40 mV, refractory 2 ms (inhibitory reversal -85 mV).
    Conductances are in nS with R = 1 GOhm, so a weight of 1 nS is the
    paper's dimensionless ``ge`` jump of 1.

    Learning: pair STDP with nearest-spike traces (tau 20 ms both sides),
    ``a_plus`` on postsynaptic spikes and ``a_minus`` on presynaptic ones,
    weights in [0, ``w_max``] nS; the summed input weight of each neuron is
    reset to ``total_per_input * n_inputs`` nS before every presentation
    (the paper: 78 nS for 784 pixels). The paper's rule also multiplies
    potentiation by a slower postsynaptic trace (its "triplet" term), and it
    re-presents an image at a higher rate when fewer than 5 spikes answer;
    both are left out here, as in BindsNET's reproduction.

    Input: pixel values in [0, 1] fire at up to ``max_rate`` Hz (the paper:
    intensity / 4, 63.75 Hz) for ``t_on`` seconds, then ``t_off`` seconds of
    rest. ``seed`` draws the initial weights, uniform in [0, ``w_init``] nS.
    """

    n_neurons: int = 100
    dt: float = 0.5e-3
    t_on: float = 0.35
    t_off: float = 0.15
    max_rate: float = 63.75
    w_init: float = 0.3
    w_max: float = 1.0
    total_per_input: float = 78.0 / 784
    exc_to_inh: float = 10.4
    inh_to_exc: float = 17.0
    theta_plus: float = 0.05e-3
    tau_theta: float = 1e4
    a_plus: float = 0.01
    a_minus: float = 1e-4
    tau_pre: float = 20e-3
    tau_post: float = 20e-3
    seed: int = 0

    def __post_init__(self):
        owner = "DiehlCook"
        check.integer(owner, "n_neurons", self.n_neurons, minimum=2)
        for p in ("dt", "t_on", "max_rate", "w_max", "total_per_input", "tau_theta", "tau_pre", "tau_post"):
            check.real(owner, p, getattr(self, p), positive=True)
        for p in ("t_off", "w_init", "exc_to_inh", "inh_to_exc", "theta_plus", "a_plus", "a_minus"):
            check.real(owner, p, getattr(self, p), nonnegative=True)
        if self.w_init > self.w_max:
            raise ValueError(f"DiehlCook: w_init ({self.w_init} nS) must be <= w_max ({self.w_max} nS)")
        check.seed(owner, self.seed)


EXCITATORY = "exc"
INHIBITORY = "inh"
LEARNED = "input_to_exc"


def network(config: DiehlCook, n_inputs: int, *, weights=None, theta=None, learning: bool = True) -> Network:
    """The circuit for ``n_inputs`` pixels.

    weights: input-to-excitatory weights in siemens, shape (n_inputs,
    n_neurons) or one per synapse (default: the seeded initial weights).
    theta: the excitatory neurons' adaptive thresholds in volts, shape
    (n_neurons,) (default 0). ``learning=False`` gives the evaluation
    circuit: no plasticity, no normalization, and thresholds held fixed.
    Spikes of the input and both populations are monitored.
    """
    if not isinstance(config, DiehlCook):
        raise TypeError(f"diehl_cook.network: parameter 'config' must be a DiehlCook, got {type(config).__name__}")
    c = config
    n_inputs = check.integer("diehl_cook.network", "n_inputs", n_inputs, minimum=1)
    synapses = c.n_neurons * (n_inputs + c.n_neurons + 1)
    check.memory("diehl_cook.network", 32.0 * synapses, f"{synapses} synapses", "use fewer inputs or neurons")
    learning = check.flag("diehl_cook.network", "learning", learning)
    net = Network(dt=c.dt)
    net.add_input("input", n_inputs, PoissonRate(max_rate=c.max_rate))
    exc = AdaptiveLIF(tau_m=100e-3, v_rest=-65e-3, v_reset=-65e-3, v_th=-52e-3, R=1 / NS, t_ref=5e-3,
                      units="physical", theta_plus=c.theta_plus if learning else 0.0,
                      tau_theta=c.tau_theta if learning else 1e12)
    inh = LIF(tau_m=10e-3, v_rest=-60e-3, v_reset=-45e-3, v_th=-40e-3, R=1 / NS, t_ref=2e-3, units="physical")
    net.add_population(EXCITATORY, c.n_neurons, exc, init=None if theta is None else {"theta": theta})
    net.add_population(INHIBITORY, c.n_neurons, inh)
    stdp = STDP(tau_pre=c.tau_pre, tau_post=c.tau_post, a_plus=c.a_plus * NS, a_minus=c.a_minus * NS,
                w_min=0.0, w_max=c.w_max * NS, nearest=True)
    norm = SynapticNormalization(total=c.total_per_input * n_inputs * NS, interval=c.t_on + c.t_off)
    net.connect("input", EXCITATORY, AllToAll(),
                weight=Uniform(0.0, c.w_init * NS, seed=c.seed) if weights is None else weights,
                synapse=ExponentialConductance(1e-3, 0.0, "g_e"), plasticity=stdp if learning else None,
                normalization=norm if learning else None, name=LEARNED)
    net.connect(EXCITATORY, INHIBITORY, OneToOne(), weight=c.exc_to_inh * NS,
                synapse=ExponentialConductance(1e-3, 0.0, "g_e"))
    net.connect(INHIBITORY, EXCITATORY, AllToAll(allow_self=False), weight=c.inh_to_exc * NS,
                synapse=ExponentialConductance(2e-3, -100e-3, "g_i"))
    for source in ("input", EXCITATORY, INHIBITORY):
        net.monitor(source)
    return net


@dataclass(frozen=True)
class Trained:
    """What :func:`train` learned and recorded.

    weights: input-to-excitatory weights (n_inputs, n_neurons) in siemens,
    normalized as the next presentation would find them.
    theta: adaptive thresholds (n_neurons,) in volts.
    counts: excitatory spike counts during each training presentation
    (n_images, n_neurons). wall_time: seconds of simulation.
    """

    config: DiehlCook
    weights: np.ndarray
    theta: np.ndarray
    counts: np.ndarray
    wall_time: float

    def network(self, rate_factor: float = 1.0) -> Network:
        """The evaluation circuit with the learned weights and thresholds,
        its input rates ``rate_factor`` times the training rates."""
        config = dataclasses.replace(self.config, max_rate=self.config.max_rate * rate_factor)
        return network(config, len(self.weights), weights=self.weights, theta=self.theta, learning=False)


def train(config: DiehlCook, images, *, backend: str = "brian2", seed: int = 0, chunk: int = 100,
          batch_size: int = 1, progress=None, checkpoint: str | Path | None = None, **options) -> Trained:
    """Present ``images`` (n_images, n_inputs) in [0, 1] once each, in order,
    to the learning circuit on ``backend`` (``options`` go to the
    :class:`~neuroai.Simulator`, or with ``batch_size > 1`` to the
    :class:`~neuroai.backends.torch.TorchNetwork`). ``seed`` seeds the
    Poisson inputs. The images run ``chunk`` at a time in one simulation;
    ``progress(done, counts_so_far)`` is called after each chunk.

    ``batch_size > 1`` (torch backend only; at most ``n_neurons``): the
    images of a chunk are presented ``batch_size`` at a time to copies of
    the circuit that share the input weights and the adaptive thresholds;
    the copies' STDP changes and threshold increments add up step by step,
    and between steps the thresholds decay for the batch's other
    presentations too, so that they decay per image as in the sequential
    algorithm (a step lasts one presentation). The copies compete for neurons (``exclusive`` in
    :meth:`~neuroai.backends.torch.TorchNetwork.forward`): an excitatory
    neuron fires in the copy where it fired first and stays silent in the
    others, so each image finds its own winners and each neuron learns one
    image of the batch, as in the sequential algorithm, where a neuron that
    has just won is less likely to win the next, different image. Without
    this, the neuron with the broadest weights wins every copy, learns their
    blurred sum and the map collapses. It is still not the sequential
    algorithm (the copies see the same weights), but it runs many images per
    step.

    ``checkpoint``: a file to which the learned state (weights, thresholds,
    counts so far, the input generator's state) is written atomically after
    every chunk. If it exists when training starts, training resumes after
    its last chunk; membrane potentials and traces restart from rest (which
    the rest period ``t_off`` nearly reaches anyway). It is read without
    unpickling anything; one that is not such a file (a folder, another
    format, truncated, another run's shapes) is a ``ValueError`` naming it.
    """
    images = _images("diehl_cook.train", images)
    chunk = check.integer("diehl_cook.train", "chunk", chunk, minimum=1)
    batch_size = check.integer("diehl_cook.train", "batch_size", batch_size, minimum=1)
    if batch_size > 1 and backend != "torch":
        raise ValueError(f"diehl_cook.train: batch_size > 1 needs backend='torch', got {backend!r}")
    if batch_size > config.n_neurons:
        raise ValueError(f"diehl_cook.train: batch_size ({batch_size}) must be <= n_neurons ({config.n_neurons}): "
                         f"the copies of a batch compete for distinct neurons")
    done, counts, weights, theta, rng_state = 0, [], None, None, None
    if checkpoint is not None and check.file_path("diehl_cook.train", "checkpoint", checkpoint).exists():
        done, counts, weights, theta, rng_state = _load_checkpoint(checkpoint, config, images)
    net = network(config, images.shape[1], weights=weights, theta=theta)
    run = _BatchedRun(net, config, batch_size, seed, **options) if batch_size > 1 else \
        _SequentialRun(net, config, backend, seed, **options)
    if rng_state is not None:
        run.rng.bit_generator.state = rng_state
    wall = 0.0
    for first in range(done, len(images), chunk):
        t0 = time.perf_counter()
        counts.append(run.present(images[first:first + chunk]))
        wall += time.perf_counter() - t0
        done = first + len(counts[-1])
        if checkpoint is not None:
            _save_checkpoint(checkpoint, done, np.concatenate(counts), *run.learned(), run.rng.bit_generator.state)
        if progress is not None:
            progress(done, np.concatenate(counts))
    weights, theta = run.learned()
    return Trained(config, _normalized(config, weights), theta, np.concatenate(counts), wall)


class _SequentialRun:
    """The learning circuit in a Simulator: images one after another."""

    def __init__(self, net: Network, config: DiehlCook, backend: str, seed: int, **options):
        self.config, self.sim = config, Simulator(net, backend, seed=seed, **options)
        self.rng = self.sim.rng

    def present(self, images: np.ndarray) -> np.ndarray:
        result = self.sim.present({"input": images}, self.config.t_on, self.config.t_off)
        return result.window_counts(EXCITATORY)

    def learned(self) -> tuple[np.ndarray, np.ndarray]:
        """(weights (n_inputs, n_neurons), thresholds (n_neurons,)) as they are now."""
        learned = self.sim.to_network()
        proj = learned.projections[LEARNED]
        weights = np.zeros((learned.size("input"), self.config.n_neurons))
        weights[proj.pre_idx, proj.post_idx] = proj.weights
        return weights, learned.populations[EXCITATORY].init["theta"]


class _BatchedRun:
    """The learning circuit as a TorchNetwork: ``batch_size`` images side by side."""

    def __init__(self, net: Network, config: DiehlCook, batch_size: int, seed: int, dtype="float32", device=None):
        from ..backends.torch import TorchNetwork

        self.net, self.config, self.batch_size = net, config, batch_size
        self.module = TorchNetwork(net, dtype=dtype, device=device)
        self.state = self.module.initial_state(1)
        self.rng = np.random.default_rng(seed)
        self.on, self.off = int(round(config.t_on / config.dt)), int(round(config.t_off / config.dt))
        self.decay = float(np.exp(-(config.t_on + config.t_off) / config.tau_theta))  # of theta, per presentation

    def present(self, images: np.ndarray) -> np.ndarray:
        import torch

        counts = []
        for start in range(0, len(images), self.batch_size):
            x = images[start:start + self.batch_size]
            raster = np.zeros((self.on + self.off, len(x), x.shape[1]), dtype=bool)
            raster[:self.on] = self.net.inputs["input"].encoder.encode(x, self.on, self.config.dt, self.rng)
            spikes = torch.as_tensor(raster, dtype=self.module.dtype, device=self.module.device)
            with torch.no_grad():
                out = self.module({"input": spikes}, state=self.state.repeat(len(x), shared=((EXCITATORY, "theta"),)),
                                  record=(EXCITATORY,), exclusive=(EXCITATORY,))
            counts.append(out.spikes[EXCITATORY][:self.on].sum(0).cpu().numpy().astype(np.int64))
            self.state = out.state.take(-1)  # after the rest, the copies' other variables are near rest
            if len(x) > 1:  # the step stood for len(x) presentations, but the thresholds decayed during one
                exc = self.state.neurons[EXCITATORY]
                exc["theta"] = exc["theta"] * self.decay ** (len(x) - 1)
        return np.concatenate(counts)

    def learned(self) -> tuple[np.ndarray, np.ndarray]:
        return (self.state.plastic[LEARNED]["w"].cpu().double().numpy(),
                self.state.neurons[EXCITATORY]["theta"][0].cpu().double().numpy())


def _save_checkpoint(path, done: int, counts, weights, theta, rng_state) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, done=done, counts=counts, weights=weights, theta=theta,
             rng_state=json.dumps(rng_state))
    atomic_write(path, buffer.getvalue())


#: What ``train(checkpoint=...)`` reads, as its errors name it.
_CHECKPOINT = "a diehl_cook.train checkpoint (an .npz file of done, counts, weights, theta and rng_state)"
_CHECKPOINT_KEYS = ("done", "counts", "weights", "theta", "rng_state")


def _read_checkpoint(path: Path):
    if not zipfile.is_zipfile(path):
        raise ValueError("it is not a zip archive, as an .npz file is")
    with np.load(path, allow_pickle=False) as saved:  # object arrays (pickles) are refused, never unpickled
        missing = [k for k in _CHECKPOINT_KEYS if k not in saved.files]
        if missing:
            raise ValueError(f"it lacks the array(s) {', '.join(map(repr, missing))} "
                             f"(it holds {', '.join(map(repr, saved.files)) or 'nothing'})")
        done, counts, weights, theta, rng_text = (saved[k] for k in _CHECKPOINT_KEYS)
    if done.shape != () or done.dtype.kind not in "iu" or done < 0:
        raise ValueError(f"'done' must be a whole number >= 0, got {done!r}")
    if rng_text.dtype.kind != "U" or rng_text.shape != ():
        raise ValueError(f"'rng_state' must be a JSON string, got an array of {rng_text.dtype} {rng_text.shape}")
    rng_state = json.loads(str(rng_text))
    np.random.default_rng().bit_generator.state = rng_state  # a state the generator refuses fails here
    return int(done), counts, weights, theta, rng_state


def _load_checkpoint(path, config: DiehlCook, images: np.ndarray):
    """The state ``_save_checkpoint`` wrote, read without unpickling anything; a file that is not
    such a checkpoint, or one of another run's shapes, is a ``ValueError`` naming it."""
    done, counts, weights, theta, rng_state = check.read_file(
        "diehl_cook.train", "checkpoint", path, _CHECKPOINT, _read_checkpoint,
        errors=(zipfile.BadZipFile, zlib.error, KeyError, TypeError))
    n = config.n_neurons
    if weights.shape != (images.shape[1], n) or done > len(images) or counts.shape != (done, n) \
            or theta.shape != (n,):
        raise ValueError(f"diehl_cook.train: checkpoint {str(path)!r} holds weights of shape {weights.shape}, "
                         f"thresholds of shape {theta.shape} and counts of shape {counts.shape} after {done} "
                         f"images; this run has {len(images)} images of {images.shape[1]} inputs and {n} neurons "
                         f"(delete the file to start afresh)")
    return done, [counts], weights, theta, rng_state


def _normalized(config: DiehlCook, weights: np.ndarray) -> np.ndarray:
    """The weights as the next presentation would meet them: each neuron's
    inputs scaled to the normalization total (learning during the last
    presentation may have moved the sums far from it)."""
    sums = weights.sum(axis=0)
    total = config.total_per_input * len(weights) * NS
    return weights * np.divide(total, sums, out=np.ones_like(sums), where=sums != 0)


def responses(trained: Trained, images, *, backend: str = "brian2", seed: int = 0, min_spikes: int = 5,
              boosts: int = 4, **options) -> dict[str, np.ndarray]:
    """Spike counts of the learned circuit, plasticity off, each image an
    independent trial of ``t_on`` seconds: source name (``"input"``,
    ``"exc"``, ``"inh"``) -> counts (n_images, n).

    As in the paper, an image that draws fewer than ``min_spikes``
    excitatory spikes is presented again with its input rates raised by half
    the base rate, up to ``boosts`` times; its last presentation counts.
    ``options`` go to the :class:`~neuroai.Simulator`; presentation k draws
    its Poisson input with seed ``seed + k``.
    """
    images = _images("diehl_cook.responses", images)
    check.integer("diehl_cook.responses", "min_spikes", min_spikes, minimum=0)
    check.integer("diehl_cook.responses", "boosts", boosts, minimum=0)
    sources = {"input": images.shape[1], EXCITATORY: trained.config.n_neurons, INHIBITORY: trained.config.n_neurons}
    counts = {name: np.zeros((len(images), n), dtype=np.int64) for name, n in sources.items()}
    pending = np.arange(len(images))
    for k in range(boosts + 1):
        sim = Simulator(trained.network(rate_factor=1.0 + k / 2), backend, seed=seed + k, **options)
        result = sim.present({"input": images[pending]}, trained.config.t_on, independent=True)
        for name in sources:
            counts[name][pending] = result.window_counts(name)
        pending = pending[counts[EXCITATORY][pending].sum(1) < min_spikes]
        if len(pending) == 0:
            break
    return counts


def label_neurons(trained: Trained, labels, last: int | None = None) -> LabelAssignment:
    """Label each neuron from its training responses (the last ``last``
    presentations, default all): the Diehl & Cook readout."""
    counts = trained.counts if last is None else trained.counts[-last:]
    labels = np.asarray(labels)[-len(counts):]
    return LabelAssignment().fit(counts, labels)


def _images(owner: str, images) -> np.ndarray:
    x = np.asarray(images, dtype=np.float64)
    x = x.reshape(len(x), -1) if x.ndim > 2 else x
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"{owner}: 'images' must have shape (n_images, n_inputs) (or (n_images, h, w)), "
                         f"got {np.shape(images)}")
    if x.min() < 0 or x.max() > 1:
        raise ValueError(f"{owner}: 'images' must lie in [0, 1], got [{x.min()}, {x.max()}]")
    return x


__all__ = ["DiehlCook", "Trained", "network", "train", "responses", "label_neurons", "EXCITATORY", "INHIBITORY",
           "LEARNED"]
