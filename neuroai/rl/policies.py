"""Policies for the actor-critic agents (PPO, A2C, REINFORCE): logits over discrete actions, or a Gaussian
over continuous ones, and a value.

* :class:`MLPActorCritic`: separate tanh MLPs (CleanRL's CartPole policy);
* :class:`GaussianActorCritic`: continuous actions, a Gaussian with a state-independent standard deviation
  or state-dependent exploration (gSDE), observations normalized by running statistics kept in the policy
  (:class:`GaussianHead`);
* :class:`LSTMActorCritic`: LSTMs over the observation history, for
  partially observable tasks (CartPole with the velocities hidden), with the
  state reset at episode starts;
* :class:`SpikingActorCritic`: a spiking policy, leaky integrate-and-fire
  neurons trained through a surrogate gradient (snnTorch's fast sigmoid), with a tanh MLP critic, and
  :class:`SpikingGaussianActorCritic`, the same over continuous actions.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import snntorch as snn
import torch
from torch import nn

from .. import validation as check
from ..backends import torch_surrogates
from .normalization import RunningNormalizer


class ActorCritic(nn.Module):
    """Interface of the policies of PPO, A2C and REINFORCE.

    neuroai's own policies keep their constructor's arguments in ``arguments`` (plain numbers and lists), from
    which :func:`~neuroai.rl.load_agent` rebuilds them.

    A feed-forward policy implements ``forward(obs (..., obs)) -> (logits
    (..., actions), value (...))``. A recurrent one sets ``recurrent = True``
    and overrides :meth:`sequence`, :meth:`initial_state` and
    :meth:`select_state`.
    """

    recurrent = False
    #: Whether the head parametrizes a distribution over continuous actions (else logits over discrete ones).
    continuous = False

    def distribution(self, head: torch.Tensor) -> torch.distributions.Distribution:
        """The action distribution that the head ``head`` (..., actions) parametrizes: categorical over logits
        (a continuous policy overrides this)."""
        return torch.distributions.Categorical(logits=head)

    def choose(self, head: torch.Tensor, deterministic: bool, generator: torch.Generator | None = None):
        """Actions from the head (N, actions): the most probable, or drawn with ``generator``."""
        if deterministic:
            return head.argmax(-1)
        return torch.multinomial(head.softmax(-1), 1, generator=generator).squeeze(-1)

    def sample(self, head: torch.Tensor) -> torch.Tensor:
        """The exploring actions of a rollout from the head (N, actions): drawn from :meth:`distribution` with
        torch's global generator (a policy with state-dependent exploration noise overrides this)."""
        return self.distribution(head).sample()

    def reset_noise(self, n: int) -> None:
        """Draw new exploration noise for ``n`` environments (trainers call it at the start of each rollout,
        and every ``sde_sample_freq`` steps); only a policy with state-dependent exploration has any."""

    def observe(self, obs: torch.Tensor) -> None:
        """Shown the observations (..., obs) of a rollout after the update that used them (a policy that
        normalizes its observations folds them into its statistics here); nothing by default."""

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``obs`` (..., obs) -> logits (..., actions) and values (...); subclasses implement it."""
        raise NotImplementedError

    def sequence(self, obs: torch.Tensor, state, starts: torch.Tensor):
        """``obs`` (T, N, obs) in time order, ``starts`` (T, N) 1 where an episode begins (the
        state is reset there) -> logits (T, N, actions), values (T, N), the final state."""
        logits, values = self(obs)
        return logits, values, None

    def initial_state(self, n: int, device=None):
        """The recurrent state of ``n`` fresh episodes (None: no state)."""
        return None

    def select_state(self, state, index):
        """The state of the environments ``index``."""
        return None


class Greedy:
    """The greedy action function of an :class:`ActorCritic` (the argmax of its logits), for
    :func:`~neuroai.rl.evaluate` and :func:`~neuroai.rl.frame_strip`: ``obs`` (N, obs) -> actions
    (N,). A recurrent policy carries its state from one call to the next; :meth:`reset` (which
    they call at each episode's start) forgets it."""

    def __init__(self, policy: ActorCritic):
        if not isinstance(policy, ActorCritic):
            raise TypeError(f"Greedy: parameter 'policy' must be an ActorCritic, got {type(policy).__name__}")
        self.policy = policy
        self.reset()

    def reset(self) -> None:
        """Forget the recurrent state: the next call starts a fresh episode."""
        self.state = None

    @torch.no_grad()
    def __call__(self, obs: torch.Tensor) -> torch.Tensor:
        obs = obs.to(next(self.policy.parameters()).device)
        fresh = self.state is None
        if fresh:
            self.state = self.policy.initial_state(len(obs), obs.device)
        starts = torch.full((1, len(obs)), float(fresh), device=obs.device)
        logits, _, self.state = self.policy.sequence(obs[None], self.state, starts)
        return logits[0].argmax(-1)


def sizes(owner: str, obs_size, actions) -> tuple[int, int]:
    """``obs_size`` and ``actions`` checked: integers >= 1."""
    return check.integer(owner, "obs_size", obs_size, minimum=1), check.integer(owner, "actions", actions, minimum=1)


def widths(owner: str, hidden) -> tuple[int, ...]:
    """``hidden`` checked: a sequence of layer widths (integers >= 1), as a tuple."""
    if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Sequence):
        raise TypeError(f"{owner}: parameter 'hidden' must be a sequence of layer widths such as (64, 64), "
                        f"got {hidden!r}")
    return tuple(check.integer(owner, "hidden", h, minimum=1) for h in hidden)


def parameters(owner: str, layers, copies: int = 1, extra: int = 0) -> None:
    """Fail at once (MemoryError) if ``copies`` MLPs of widths ``layers`` (and ``extra`` more parameters)
    would not fit in memory as float32."""
    count = copies * sum((a + 1) * b for a, b in zip(layers[:-1], layers[1:])) + extra
    check.memory(owner, 4.0 * count, f"{count:.3g} parameters", "use fewer or narrower hidden layers")


def _layer(inputs: int, outputs: int, gain: float | None) -> nn.Linear:
    """A linear layer, orthogonally initialized with ``gain`` and zero biases (None: PyTorch's default)."""
    layer = nn.Linear(inputs, outputs)
    if gain is not None:
        nn.init.orthogonal_(layer.weight, gain)
        nn.init.zeros_(layer.bias)
    return layer


class MLPActorCritic(ActorCritic):
    """Separate tanh MLPs for the policy and the value, orthogonally initialized
    (gain sqrt 2, policy head 0.01, value head 1), as in CleanRL; ``ortho_init=False``: PyTorch's default
    initialization instead (Stable-Baselines3's option of that name)."""

    def __init__(self, obs_size: int, actions: int, hidden: tuple[int, ...] = (64, 64), ortho_init: bool = True):
        super().__init__()
        obs_size, actions = sizes("MLPActorCritic", obs_size, actions)
        hidden = widths("MLPActorCritic", hidden)
        ortho_init = check.flag("MLPActorCritic", "ortho_init", ortho_init)
        parameters("MLPActorCritic", [obs_size, *hidden, actions + 1], copies=2)
        self.arguments = {"obs_size": obs_size, "actions": actions, "hidden": list(hidden), "ortho_init": ortho_init}

        def mlp(out: int, gain: float) -> nn.Sequential:
            layers, width = [], obs_size
            for h in hidden:
                layers += [_layer(width, h, math.sqrt(2) if ortho_init else None), nn.Tanh()]
                width = h
            return nn.Sequential(*layers, _layer(width, out, gain if ortho_init else None))

        self.actor, self.critic = mlp(actions, 0.01), mlp(1, 1.0)

    def forward(self, obs):
        """``obs`` (..., obs) -> logits (..., actions), values (...)."""
        return self.actor(obs), self.critic(obs).squeeze(-1)


def sde_std(features: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """The standard deviation (..., action_dim) of gSDE's noise ``features @ E``: ``features`` (..., latent),
    ``E`` (latent, action_dim) of independent Gaussian entries of standard deviation ``exp(log_std)``; so
    ``sqrt(features^2 @ exp(2 log_std))`` (plus 1e-6 under the root, as Stable-Baselines3, for zero features)."""
    return (features.square() @ (2 * log_std).exp() + 1e-6).sqrt()


class GaussianHead:
    """What a policy over continuous actions adds to :class:`ActorCritic` (a mixin): a diagonal Gaussian over
    actions around the mean the network computes, and observations that go through a
    :class:`~neuroai.rl.normalization.RunningNormalizer` ``normalizer`` kept in the policy (saved and loaded
    with it; None: as they are), updated by :meth:`observe` after each update and frozen wherever the policy
    only acts. Actions are sampled unbounded; the trainer clips what it gives the environment to the action
    space's bounds (the log-probabilities are those of the samples).

    The standard deviation is either a learned vector ``exp(log_std)``, the same in every state, or, with
    ``state_dependent=True``, generalized state-dependent exploration (gSDE, Raffin et al. 2022): the noise
    is ``z(s) @ E``, ``z(s)`` the features (..., latent) the mean is read out from (detached: the noise does
    not train them) and ``E`` (latent, action_dim) a matrix of Gaussian entries of standard deviation
    ``exp(log_std)`` (``log_std`` then (latent, action_dim)), held fixed between calls of :meth:`reset_noise`;
    so an action's distribution is Gaussian with variance ``z(s)^2 @ exp(2 log_std)``, and the exploration is
    smooth in time and in the state instead of white. The head is then the mean and the features side by
    side, (..., action_dim + latent)."""

    continuous = True

    def _gaussian(self, owner: str, obs_size: int, action_dim: int, log_std_init, normalize,
                  state_dependent, latent: int) -> dict:
        """Create ``log_std``, ``normalizer`` and the exploration matrices (``latent``: the width of the features
        the mean is read out from); returns their checked arguments."""
        log_std_init = check.real(owner, "log_std_init", log_std_init)
        normalize = check.flag(owner, "normalize", normalize)
        self.state_dependent = check.flag(owner, "state_dependent", state_dependent)
        self.action_dim = action_dim
        shape = (latent, action_dim) if self.state_dependent else (action_dim,)
        self.log_std = nn.Parameter(torch.full(shape, log_std_init))
        self.register_buffer("exploration", torch.zeros((0, *shape)), persistent=False)
        self.normalizer = RunningNormalizer((obs_size,)) if normalize else None
        return {"log_std_init": log_std_init, "normalize": normalize, "state_dependent": self.state_dependent}

    def normalized(self, obs: torch.Tensor) -> torch.Tensor:
        """``obs`` through the normalizer (if any)."""
        return obs if self.normalizer is None else self.normalizer(obs)

    def head(self, mean: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """The head from the mean (..., action_dim) and the features (..., latent) it was read out from."""
        return torch.cat([mean, features.detach()], -1) if self.state_dependent else mean

    def _mean_std(self, head):
        mean = head[..., :self.action_dim]
        if not self.state_dependent:
            return mean, self.log_std.exp().expand_as(mean)
        return mean, sde_std(head[..., self.action_dim:], self.log_std)

    def distribution(self, head):
        """Independent Gaussians around the mean, of the standard deviations the class docstring describes."""
        return torch.distributions.Independent(torch.distributions.Normal(*self._mean_std(head)), 1)

    def choose(self, head, deterministic, generator=None):
        """The mean, or a draw ``mean + std * noise`` with ``generator``."""
        mean, std = self._mean_std(head)
        if deterministic:
            return mean
        return mean + std * torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)

    def sample(self, head):
        """With state-dependent noise, ``mean + z(s) @ E`` with each environment's matrix ``E`` of the last
        :meth:`reset_noise`; else a draw of the distribution."""
        if not self.state_dependent:
            return super().sample(head)
        if len(self.exploration) != len(head):
            raise RuntimeError(f"{type(self).__name__}.sample: reset_noise({len(head)}) must draw the "
                               f"exploration noise of {len(head)} environments first (it holds "
                               f"{len(self.exploration)})")
        mean, features = head[..., :self.action_dim], head[..., self.action_dim:]
        return mean + torch.bmm(features.unsqueeze(1), self.exploration).squeeze(1)

    def reset_noise(self, n):
        """Draw each of ``n`` environments' exploration matrix ``E`` (with torch's global generator)."""
        if self.state_dependent:
            with torch.no_grad():
                std = self.log_std.exp()
                self.exploration = torch.randn((n, *std.shape), device=std.device, dtype=std.dtype) * std

    def observe(self, obs):
        """Fold the observations into the normalizer's statistics."""
        if self.normalizer is not None:
            self.normalizer.update(obs)


class GaussianActorCritic(GaussianHead, ActorCritic):
    """Continuous actions (:class:`GaussianHead`): a tanh MLP gives the mean (``log_std_init``: the log
    standard deviation at the start; ``state_dependent``: gSDE on its last hidden layer), a tanh MLP the
    value, initialized as :class:`MLPActorCritic`'s (the mean's head at gain 0.01; ``ortho_init=False``:
    PyTorch's default); observations normalized unless ``normalize=False``."""

    def __init__(self, obs_size: int, action_dim: int, hidden: tuple[int, ...] = (64, 64), log_std_init: float = 0.0,
                 normalize: bool = True, state_dependent: bool = False, ortho_init: bool = True):
        super().__init__()
        owner = "GaussianActorCritic"
        obs_size, action_dim = sizes(owner, obs_size, action_dim)
        hidden = widths(owner, hidden)
        parameters(owner, [obs_size, *hidden, action_dim + 1], copies=2)
        twin = MLPActorCritic(obs_size, action_dim, hidden, check.flag(owner, "ortho_init", ortho_init))
        self.actor, self.critic = twin.actor, twin.critic
        self.arguments = {"obs_size": obs_size, "action_dim": action_dim, "hidden": list(hidden),
                          "ortho_init": ortho_init,
                          **self._gaussian(owner, obs_size, action_dim, log_std_init, normalize, state_dependent,
                                           (obs_size, *hidden)[-1])}

    def forward(self, obs):
        """``obs`` (..., obs) -> the head (..., action_dim (+ latent): :class:`GaussianHead`), values (...)."""
        x = self.normalized(obs)
        features = self.actor[:-1](x)
        return self.head(self.actor[-1](features), features), self.critic(x).squeeze(-1)


class _LSTMMemory(nn.Module):
    """A tanh encoder and an LSTM, run over a (T, N, obs) sequence with the state of an environment
    zeroed where ``starts`` marks a new episode."""

    def __init__(self, obs_size: int, hidden: int):
        super().__init__()
        self.encoder = nn.Sequential(_layer(obs_size, hidden, math.sqrt(2)), nn.Tanh())
        self.lstm = nn.LSTM(hidden, hidden)
        for name, p in self.lstm.named_parameters():
            if "bias" in name:
                nn.init.zeros_(p)
            else:
                nn.init.orthogonal_(p, 1.0)

    def forward(self, obs, state, starts):
        features = self.encoder(obs)
        h, c = state
        # the fused LSTM runs over each stretch without episode starts; at a stretch's first step the
        # state of the environments beginning an episode is zeroed
        cuts = torch.nonzero(starts[1:].any(1)).flatten().add(1).tolist()
        outputs = []
        for begin, end in zip([0, *cuts], [*cuts, len(obs)]):
            keep = (1.0 - starts[begin]).view(1, -1, 1)
            out, (h, c) = self.lstm(features[begin:end], (h * keep, c * keep))
            outputs.append(out)
        return torch.cat(outputs), (h, c)


class LSTMActorCritic(ActorCritic):
    """LSTMs over the observation history with linear policy and value heads: one LSTM for the
    policy and one for the value (as rl-baselines3-zoo's RecurrentPPO; a shared one lets the
    value loss pull the policy's memory around), or one for both with ``shared=True``.

    ``sequence`` zeroes the state of every environment where ``starts``
    marks a new episode, so one rollout replays exactly as it was
    collected step by step. State: a tuple of ``(1, N, hidden)`` tensors,
    ``(h, c)`` of each LSTM.
    """

    recurrent = True

    def __init__(self, obs_size: int, actions: int, hidden: int = 64, shared: bool = False):
        super().__init__()
        obs_size, actions = sizes("LSTMActorCritic", obs_size, actions)
        self.hidden = check.integer("LSTMActorCritic", "hidden", hidden, minimum=1)
        shared = check.flag("LSTMActorCritic", "shared", shared)
        parameters("LSTMActorCritic", [obs_size, self.hidden, actions + 1], copies=1 if shared else 2,
                   extra=(1 if shared else 2) * 8 * self.hidden * (self.hidden + 1))
        self.arguments = {"obs_size": obs_size, "actions": actions, "hidden": self.hidden, "shared": shared}
        self.policy_memory = _LSTMMemory(obs_size, self.hidden)
        self.value_memory = None if shared else _LSTMMemory(obs_size, self.hidden)
        self.actor, self.critic = _layer(self.hidden, actions, 0.01), _layer(self.hidden, 1, 1.0)

    def initial_state(self, n: int, device=None):
        """Zero ``(h, c)`` for ``n`` environments: a tuple of ``(1, n, hidden)`` tensors, two per LSTM."""
        tensors = 2 if self.value_memory is None else 4      # (h, c) of each LSTM
        return tuple(torch.zeros(1, n, self.hidden, device=device) for _ in range(tensors))

    def select_state(self, state, index):
        """The state of the environments ``index`` (an index into the environment dimension, 1)."""
        return tuple(s[:, index] for s in state)

    def sequence(self, obs, state, starts):
        """``obs`` (T, N, obs) from ``state``, zeroing an environment's state where ``starts`` (T, N) is 1
        -> logits (T, N, actions), values (T, N), the final state."""
        policy_out, policy_state = self.policy_memory(obs, state[:2], starts)
        value_out, value_state = ((policy_out, ()) if self.value_memory is None
                                  else self.value_memory(obs, state[2:], starts))
        return self.actor(policy_out), self.critic(value_out).squeeze(-1), (*policy_state, *value_state)

    def forward(self, obs):
        """A single step from a fresh state: ``obs`` (N, obs)."""
        logits, values, _ = self.sequence(obs.unsqueeze(0), self.initial_state(len(obs), obs.device),
                                          torch.ones(1, len(obs), device=obs.device))
        return logits[0], values[0]


class SpikingActorCritic(ActorCritic):
    """A spiking actor: the observation is a constant input current to a layer of
    leaky integrate-and-fire neurons (``snn.Leaky``: membrane decay ``beta`` per
    step, threshold 1, reset by subtraction, snnTorch's fast-sigmoid surrogate
    gradient, from :mod:`neuroai.backends.torch_surrogates` so that
    ``torch.func`` and the landscape tools work through it)
    for ``steps`` simulation steps per decision; the logits are a linear read-out
    of the hidden spike counts per step (rate code). The critic is the tanh MLP
    of :class:`MLPActorCritic` (only the policy is spiking, as in PopSAN, Tang
    et al. 2020). ``last_spike_rate``: hidden spikes per neuron and step of the
    last forward. ``slope``: of the fast-sigmoid surrogate; ``input_gain``: scale
    of the input layer's initialization.
    """

    def __init__(self, obs_size: int, actions: int, hidden: int = 64, steps: int = 8, beta: float = 0.9,
                 slope: float = 25.0, input_gain: float = 4.0):
        super().__init__()
        owner = "SpikingActorCritic"
        obs_size, actions = sizes(owner, obs_size, actions)
        hidden = check.integer(owner, "hidden", hidden, minimum=1)
        self.steps = check.integer(owner, "steps", steps, minimum=1)
        if not 0 < check.real(owner, "beta", beta) < 1:
            raise ValueError(f"{owner}: parameter 'beta' must be in (0, 1), got {beta!r}")
        parameters(owner, [obs_size, hidden, actions], extra=(obs_size + 1) * 64 + 65 * 64 + 65)
        # a strong input layer (orthogonal, gain input_gain * sqrt 2) makes the neurons fire from the start
        # (CartPole at rest: ~0.1 spikes per neuron and step); at gain sqrt 2 most stay silent and learn slowly
        self.encoder = _layer(obs_size, hidden, check.real(owner, "input_gain", input_gain, positive=True)
                              * math.sqrt(2))
        self.lif = snn.Leaky(beta=beta, spike_grad=torch_surrogates.fast_sigmoid(check.real(owner, "slope", slope,
                                                                                             positive=True)))
        self.actor = _layer(hidden, actions, 0.01)
        self.critic = MLPActorCritic(obs_size, actions).critic
        self.last_spike_rate = 0.0
        self.arguments = {"obs_size": obs_size, "actions": actions, "hidden": hidden, "steps": self.steps,
                          "beta": float(beta), "slope": float(slope), "input_gain": float(input_gain)}

    def forward(self, obs):
        """``obs`` (..., obs) -> logits (..., actions) from the hidden spike rates over ``steps`` steps,
        values (...) from the MLP critic; sets ``last_spike_rate``."""
        return self.actor(self.rates(obs)), self.critic(obs).squeeze(-1)

    def rates(self, obs: torch.Tensor) -> torch.Tensor:
        """The hidden neurons' spikes per step (..., hidden) over ``steps`` steps of input ``obs`` (..., obs);
        sets ``last_spike_rate``."""
        current = self.encoder(obs)
        membrane = torch.zeros_like(current)
        counts = torch.zeros_like(current)
        for _ in range(self.steps):
            spikes, membrane = self.lif(current, membrane)
            counts = counts + spikes
        rates = counts / self.steps
        self.last_spike_rate = float(rates.detach().mean())
        return rates


class SpikingGaussianActorCritic(GaussianHead, SpikingActorCritic):
    """The spiking policy of :class:`SpikingActorCritic` over continuous actions (:class:`GaussianHead`): the
    linear read-out of the hidden spike rates is the Gaussian's mean (PopSAN's deterministic read-out, with
    PPO's learned standard deviation; ``state_dependent``: gSDE on the spike rates); observations normalized
    unless ``normalize=False``, for the spiking layer's input current and the MLP critic alike."""

    def __init__(self, obs_size: int, action_dim: int, hidden: int = 64, steps: int = 8, beta: float = 0.9,
                 slope: float = 25.0, input_gain: float = 4.0, log_std_init: float = 0.0, normalize: bool = True,
                 state_dependent: bool = False):
        super().__init__(obs_size, action_dim, hidden, steps, beta, slope, input_gain)
        arguments = self.arguments
        self.arguments = {"obs_size": arguments["obs_size"], "action_dim": arguments["actions"],
                          **{k: v for k, v in arguments.items() if k not in ("obs_size", "actions")},
                          **self._gaussian("SpikingGaussianActorCritic", arguments["obs_size"],
                                           arguments["actions"], log_std_init, normalize, state_dependent,
                                           arguments["hidden"])}

    def forward(self, obs):
        """``obs`` (..., obs) -> the head (..., action_dim (+ hidden): :class:`GaussianHead`) from the hidden
        spike rates, values (...)."""
        x = self.normalized(obs)
        rates = self.rates(x)
        return self.head(self.actor(rates), rates), self.critic(x).squeeze(-1)
