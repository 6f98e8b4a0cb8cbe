"""A spiking agent that learns a contextual bandit by reward-modulated STDP.

Read top to bottom: the task, the circuit, the rule, the trial loop.

**The task** (a conditioning / contextual-bandit task of its own). There are
``n_cues`` cues and ``n_actions`` actions; a seeded random mapping assigns
each cue its one rewarded action. Each trial draws a cue at random and shows
it for ``cue_duration`` seconds; the agent answers with one action; the
environment pays ``reward_correct`` (default +1) if the action is the one the
cue maps to and ``reward_wrong`` (default -1) otherwise. A random policy is
right on ``1 / n_actions`` of the trials.

**The circuit** (a :class:`neuroai.Network`). Input ``"cue"`` holds
``n_cues`` groups of ``neurons_per_cue`` Poisson neurons; the cue shown fires
its group at ``cue_rate`` Hz and leaves the others silent (so a trial's
learning touches that cue's synapses only). Population ``"action"`` holds
``n_actions`` groups of ``neurons_per_action`` LIF neurons.
Every cue neuron projects onto every action neuron through the plastic
projection ``"cue_to_action"`` (weights drawn uniformly from
``[w_init_low, w_init_high)``); each action neuron inhibits every neuron of
the other action groups (``"lateral"``, fixed weight ``w_inhibition``), so
the groups compete and one of them wins the cue window. A background input
``"noise"`` (``noise_rate`` Hz, one-to-one, weight ``w_noise``) keeps the
action neurons firing now and then, so that an action whose weights were
depressed can still be tried again (exploration). The chosen action is the
group with most spikes during the cue window (ties broken at random by the
seeded generator).

**The rule** (Izhikevich 2007; Fremaux & Gerstner 2016):
:class:`neuroai.plasticity.RewardSTDP` on ``"cue_to_action"``. Pair-STDP
events between the cue neurons and the action neurons that just fired write
an eligibility trace ``c`` (time constant ``tau_c``) instead of the weight;
the weight follows ``dw/dt = eta * r(t) * c``, with ``r`` the network signal
``"dopamine"``. Only the synapses from the shown cue onto the winning group
carry eligibility (the others saw no presynaptic, or almost no
postsynaptic, spikes), so a reward strengthens the cue's pull on the chosen
action and a punishment weakens it. With no dopamine nothing moves.

**A trial**: draw a cue, run its cue window (dopamine 0), count each
action group's spikes, choose, and pay the reward, which is then held as the
dopamine signal for a reward window of ``reward_duration`` seconds (cue
silent), so the eligibility that the cue window left turns into weight
change. One :class:`neuroai.Simulator` runs the whole session, continuing in
time, with one ``run`` per trial: the previous trial's reward window followed
by this trial's cue window (then a last run for the last reward). The cue's
Poisson spikes are drawn in neuroai (:class:`neuroai.PoissonRate`, from the
simulator's seeded generator) and given to the ``"cue"`` input as a
:class:`neuroai.SpikeArray`, which lets one run hold the silent reward window
and the cue window. ``tau_c`` is short beside a trial (by default 30 ms
against 100 ms), so little eligibility (about exp(-100/30), 4%) reaches the
next trial's reward.

The biological run is Brian2 (numpy code generation, no compiler needed);
``backend="torch"`` runs the same network in float64 with the same input
spikes, so the two give the same spikes, choices and weights for one seed.
:func:`train_rstdp` returns the rewards, the accuracy per block and the
learned network; :func:`evaluate_rstdp` tests that network with plasticity
off. With the defaults (6 cues, 4 actions, 300 trials) the agent is right on
all the trials of its last blocks, against 25% for a random policy.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from .. import validation as check
from ..coding import PoissonRate, SpikeArray
from ..network import Network
from ..neurons import LIF
from ..plasticity import RewardSTDP
from ..simulator import Simulator
from ..synapses import AllToAll, Explicit, OneToOne, Uniform
from .common import TrainResult, plain_fields

BACKEND_OPTIONS = {"brian2": {"target": "numpy"}, "torch": {"dtype": "float64"}}


@dataclass(frozen=True)
class RSTDPConfig:
    """Task, circuit, rule and training length of the R-STDP agent.

    Times in seconds, rates in Hz; membrane potentials and weights are those
    of the normalized :class:`neuroai.LIF` (threshold 1, rest 0).
    """

    # task
    n_cues: int = 6                 #: K cues, each mapped to one rewarded action
    n_actions: int = 4              #: A actions (a random policy is right 1/A of the time)
    trials: int = 300               #: trials of training (one cue, one action, one reward each)
    block: int = 25                 #: trials per block of the accuracy history
    reward_correct: float = 1.0     #: dopamine for the mapped action
    reward_wrong: float = -1.0      #: dopamine for any other action
    # circuit
    dt: float = 1e-3                #: time step shared by both backends
    neurons_per_cue: int = 20       #: Poisson neurons per cue group
    neurons_per_action: int = 10    #: LIF neurons per action group
    cue_rate: float = 40.0          #: rate of the shown cue's neurons
    cue_duration: float = 0.05      #: cue window: the agent's decision time
    reward_duration: float = 0.05   #: reward window: dopamine held at the trial's reward
    tau_m: float = 20e-3            #: membrane time constant of the action neurons
    t_ref: float = 2e-3             #: their refractory period
    w_init_low: float = 0.05        #: initial cue -> action weights, low end
    w_init_high: float = 0.1        #: initial cue -> action weights, high end
    w_inhibition: float = 0.5       #: lateral inhibition between action groups (magnitude)
    noise_rate: float = 20.0        #: background input rate per action neuron
    w_noise: float = 0.5            #: its weight
    # rule
    tau_pre: float = 20e-3          #: presynaptic STDP trace
    tau_post: float = 20e-3         #: postsynaptic STDP trace
    tau_c: float = 30e-3            #: eligibility trace
    a_plus: float = 1.0             #: eligibility added per pre-before-post pairing
    a_minus: float = 0.5            #: eligibility removed per post-before-pre pairing
    eta: float = 1.0                #: weight change per second, per unit of reward and eligibility
    w_max: float = 0.3              #: upper weight bound (the lower is 0)

    def __post_init__(self):
        owner = "RSTDPConfig"
        for name in ("n_cues", "trials", "block", "neurons_per_cue", "neurons_per_action"):
            check.integer(owner, name, getattr(self, name), minimum=1)
        check.integer(owner, "n_actions", self.n_actions, minimum=2)
        for name in ("dt", "cue_rate", "cue_duration", "reward_duration", "tau_m", "tau_pre", "tau_post",
                     "tau_c", "w_max"):
            check.real(owner, name, getattr(self, name), positive=True)
        for name in ("t_ref", "w_init_low", "w_init_high", "w_inhibition", "noise_rate", "w_noise",
                     "a_plus", "a_minus", "eta"):
            check.real(owner, name, getattr(self, name), nonnegative=True)
        check.real(owner, "reward_correct", self.reward_correct)
        check.real(owner, "reward_wrong", self.reward_wrong)
        if not self.w_init_low <= self.w_init_high <= self.w_max:
            raise ValueError(f"{owner}: initial weights need w_init_low <= w_init_high <= w_max, got "
                             f"{self.w_init_low}, {self.w_init_high}, {self.w_max}")
        if self.block > self.trials:
            raise ValueError(f"{owner}: parameter 'block' must be <= trials ({self.trials}), got {self.block}")
        for name in ("tau_m", "tau_pre", "tau_post", "tau_c"):
            if self.dt >= getattr(self, name):
                raise ValueError(f"{owner}: dt ({self.dt} s) must be smaller than {name} ({getattr(self, name)} s)")
        for name in ("cue_rate", "noise_rate"):
            if getattr(self, name) * self.dt > 1.0:
                raise ValueError(f"{owner}: {name} * dt must be <= 1 spike per step, got "
                                 f"{getattr(self, name)} * {self.dt}")
        for name in ("cue_duration", "reward_duration"):
            if getattr(self, name) < self.dt:
                raise ValueError(f"{owner}: parameter {name!r} ({getattr(self, name)} s) must last at least "
                                 f"one step dt ({self.dt} s)")
            check.whole_steps(owner, name, getattr(self, name), self.dt, rounding=True)  # (at most MAX_STEPS)
        plain_fields(self)

    @property
    def rule(self) -> RewardSTDP:
        """The learning rule of the cue -> action projection."""
        return RewardSTDP("dopamine", tau_pre=self.tau_pre, tau_post=self.tau_post, tau_c=self.tau_c,
                          a_plus=self.a_plus, a_minus=self.a_minus, eta=self.eta, w_min=0.0, w_max=self.w_max)


def build_network(config: RSTDPConfig, seed: int = 0) -> Network:
    """The agent's circuit (see the module docstring); ``seed`` draws the initial weights."""
    c = config
    n_in, n_out = c.n_cues * c.neurons_per_cue, c.n_actions * c.neurons_per_action
    group = np.arange(n_out) // c.neurons_per_action
    net = Network(dt=c.dt)
    net.add_signal("dopamine")
    net.add_input("cue", n_in, SpikeArray())
    net.add_input("noise", n_out, PoissonRate(max_rate=c.noise_rate))
    net.add_population("action", n_out, LIF(tau_m=c.tau_m, t_ref=c.t_ref))
    net.connect("cue", "action", AllToAll(), weight=Uniform(c.w_init_low, c.w_init_high, seed=seed),
                plasticity=c.rule, name="cue_to_action")
    net.connect("noise", "action", OneToOne(), weight=c.w_noise, name="noise_to_action")
    net.connect("action", "action", Explicit(group[:, None] != group[None, :]), weight=c.w_inhibition,
                sign="inhibitory", name="lateral")
    net.monitor("action")
    return net


@dataclass
class RSTDPResult(TrainResult):
    """A training run of :func:`train_rstdp`.

    ``episodes``: ``(trial, reward)``, one per trial; ``model``: the learned
    :class:`neuroai.Network` (``Simulator.to_network()``); ``accuracy``:
    fraction of correct actions in each block of ``config.block`` trials;
    ``mapping[k]``: the action rewarded for cue k; ``cues``, ``actions``,
    ``counts`` (spikes of each action group, (trials, A)): every trial;
    ``weights``: mean cue -> action weight per (cue, action) after training.
    ``seconds`` is the wall time; ``steps`` the number of trials. A last
    block shorter than ``config.block`` is left out of ``accuracy``.
    """

    accuracy: np.ndarray = field(default_factory=lambda: np.zeros(0))
    mapping: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    cues: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    actions: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    counts: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int64))
    weights: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    backend: str = "brian2"
    config: RSTDPConfig | None = None

    @property
    def correct(self) -> np.ndarray:
        """Whether each trial's action was the mapped one."""
        return self.actions == self.mapping[self.cues]

    @property
    def chance(self) -> float:
        """Accuracy of a random policy."""
        return 1.0 / self.weights.shape[1]


def mean_weights(network: Network, config: RSTDPConfig) -> np.ndarray:
    """Mean weight of each (cue, action) block of ``"cue_to_action"``, shape (K, A)."""
    proj = network.projections["cue_to_action"]
    cue, action = proj.pre_idx // config.neurons_per_cue, proj.post_idx // config.neurons_per_action
    total = np.zeros((config.n_cues, config.n_actions))
    np.add.at(total, (cue, action), proj.weights)
    return total / (config.neurons_per_cue * config.neurons_per_action)


def cue_spikes(config: RSTDPConfig, cue: int, rng: np.random.Generator) -> np.ndarray:
    """Poisson spikes of the ``"cue"`` input during one cue window, shape
    (steps, n_cues * neurons_per_cue): group ``cue`` at ``cue_rate``, the rest silent."""
    c = config
    stimulus = np.zeros(c.n_cues * c.neurons_per_cue)
    stimulus[cue * c.neurons_per_cue:(cue + 1) * c.neurons_per_cue] = 1.0
    return PoissonRate(max_rate=c.cue_rate).encode(stimulus, int(round(c.cue_duration / c.dt)), c.dt, rng)


def group_counts(result, config: RSTDPConfig, first: int, stop: int | None = None) -> np.ndarray:
    """Spikes of each action group in ``result`` at absolute steps ``first``
    to ``stop`` (excluded; default: the end), shape (n_actions,)."""
    spikes = result.spikes["action"]
    keep = (spikes.steps >= first) & (spikes.steps < (np.inf if stop is None else stop))
    return np.bincount(spikes.indices[keep] // config.neurons_per_action, minlength=config.n_actions)


def train_rstdp(config: RSTDPConfig = RSTDPConfig(), backend: str = "brian2", seed: int = 0,
                progress: bool = True, **options) -> RSTDPResult:
    """Train the R-STDP agent on its contextual bandit for ``config.trials`` trials.

    backend: ``"brian2"`` (numpy code generation) or ``"torch"`` (float64);
    ``options`` override the backend's options. ``seed`` fixes the mapping,
    the cue sequence, tie-breaking, the initial weights and the input spikes.
    """
    if not isinstance(config, RSTDPConfig):
        raise TypeError(f"train_rstdp: parameter 'config' must be an RSTDPConfig, got {type(config).__name__}")
    check.choice("train_rstdp", "backend", backend, BACKEND_OPTIONS)
    seed = check.seed("train_rstdp", seed)
    progress = check.flag("train_rstdp", "progress", progress)
    c = config
    rng = np.random.default_rng(seed)
    mapping = rng.integers(c.n_actions, size=c.n_cues)
    net = build_network(c, seed)
    sim = Simulator(net, backend, seed=seed, **{**BACKEND_OPTIONS[backend], **options})
    cue_steps, reward_steps = (int(round(d / c.dt)) for d in (c.cue_duration, c.reward_duration))
    n_in = c.n_cues * c.neurons_per_cue

    def segment(cue: int | None, reward: float | None):
        """Run [the last trial's reward window | cue ``cue``'s window]; either may be absent.
        Returns the action spikes counted per group during the cue window."""
        rasters, dopamine = [], []
        if reward is not None:
            rasters.append(np.zeros((reward_steps, n_in), dtype=bool))
            dopamine.append(np.full(reward_steps, reward))
        if cue is not None:
            rasters.append(cue_spikes(c, cue, sim.rng))
            dopamine.append(np.zeros(cue_steps))
        steps = sum(len(d) for d in dopamine)
        out = sim.run(steps * c.dt, inputs={"cue": np.concatenate(rasters)},
                      signals={"dopamine": np.concatenate(dopamine)})
        return group_counts(out, c, first=out.start_step + out.n_steps - cue_steps)

    episodes, cues, actions, counts = [], [], [], []
    reward = None
    start = time.perf_counter()
    bar = tqdm(range(c.trials), desc=f"R-STDP ({backend})", disable=not progress, unit="trial")
    for trial in bar:
        cue = int(rng.integers(c.n_cues))
        count = segment(cue, reward)
        best = np.flatnonzero(count == count.max())
        action = int(best[rng.integers(len(best))]) if len(best) > 1 else int(best[0])
        reward = c.reward_correct if action == mapping[cue] else c.reward_wrong
        episodes.append((trial, float(reward)))
        cues.append(cue)
        actions.append(action)
        counts.append(count)
        if progress and (trial + 1) % c.block == 0:
            recent = np.array(actions[-c.block:]) == mapping[np.array(cues[-c.block:])]
            bar.set_postfix(accuracy=f"{recent.mean():.2f}")
    segment(None, reward)  # the last trial's reward window
    bar.close()
    learned = sim.to_network()
    cues, actions = np.array(cues, dtype=np.int64), np.array(actions, dtype=np.int64)
    correct = actions == mapping[cues]
    n_blocks = c.trials // c.block
    accuracy = correct[:n_blocks * c.block].reshape(n_blocks, c.block).mean(axis=1)
    return RSTDPResult(episodes=episodes, model=learned, seconds=time.perf_counter() - start, steps=c.trials,
                       accuracy=accuracy, mapping=mapping, cues=cues, actions=actions,
                       counts=np.array(counts, dtype=np.int64), weights=mean_weights(learned, c), backend=backend,
                       config=c)


def evaluate_rstdp(result: RSTDPResult, repeats: int = 10, backend: str = "torch", seed: int = 1) -> float:
    """Accuracy of the learned circuit with plasticity off: ``result.model``
    (weights frozen by ``Network.without_plasticity``) is shown every cue
    ``repeats`` times (a cue window, then a silent window as long as the
    reward window); an action counts as right when its group alone fired most
    (a tie counts as wrong: a greedy read-out without coin flips)."""
    if not isinstance(result, RSTDPResult) or result.config is None:
        raise TypeError(f"evaluate_rstdp: parameter 'result' must be an RSTDPResult of train_rstdp, "
                        f"got {type(result).__name__}")
    repeats = check.integer("evaluate_rstdp", "repeats", repeats, minimum=1)
    check.choice("evaluate_rstdp", "backend", backend, BACKEND_OPTIONS)
    c = result.config
    sim = Simulator(result.model.without_plasticity(), backend, seed=check.seed("evaluate_rstdp", seed),
                    **BACKEND_OPTIONS[backend])
    quiet = np.zeros((int(round(c.reward_duration / c.dt)), c.n_cues * c.neurons_per_cue), dtype=bool)
    right = 0
    for _ in range(repeats):
        for cue in range(c.n_cues):
            raster = cue_spikes(c, cue, sim.rng)
            out = sim.run((len(raster) + len(quiet)) * c.dt, inputs={"cue": np.concatenate([raster, quiet])})
            count = group_counts(out, c, out.start_step, out.start_step + len(raster))
            winners = np.flatnonzero(count == count.max())
            right += len(winners) == 1 and winners[0] == result.mapping[cue]
    return right / (repeats * c.n_cues)
