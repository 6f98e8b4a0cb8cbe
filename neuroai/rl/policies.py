"""Policies for the actor-critic agents (PPO, A2C, REINFORCE): logits over discrete actions and a value.

* :class:`MLPActorCritic`: separate tanh MLPs (CleanRL's CartPole policy);
* :class:`LSTMActorCritic`: an LSTM over the observation history, for
  partially observable tasks (CartPole with the velocities hidden), with the
  state reset at episode starts;
* :class:`SpikingActorCritic`: a spiking policy, leaky integrate-and-fire
  neurons trained through snnTorch's surrogate gradient, with a tanh MLP critic.
"""
from __future__ import annotations

import math

import snntorch as snn
import torch
from snntorch import surrogate
from torch import nn

from .. import validation as check


class ActorCritic(nn.Module):
    """Interface of the policies of PPO, A2C and REINFORCE.

    A feed-forward policy implements ``forward(obs (..., obs)) -> (logits
    (..., actions), value (...))``. A recurrent one sets ``recurrent = True``
    and overrides :meth:`sequence`, :meth:`initial_state` and
    :meth:`select_state`.
    """

    recurrent = False

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
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


def _layer(inputs: int, outputs: int, gain: float) -> nn.Linear:
    layer = nn.Linear(inputs, outputs)
    nn.init.orthogonal_(layer.weight, gain)
    nn.init.zeros_(layer.bias)
    return layer


class MLPActorCritic(ActorCritic):
    """Separate tanh MLPs for the policy and the value, orthogonally initialized
    (gain sqrt 2, policy head 0.01, value head 1), as in CleanRL."""

    def __init__(self, obs_size: int, actions: int, hidden: tuple[int, ...] = (64, 64)):
        super().__init__()

        def mlp(out: int, gain: float) -> nn.Sequential:
            layers, width = [], obs_size
            for h in hidden:
                layers += [_layer(width, h, math.sqrt(2)), nn.Tanh()]
                width = h
            return nn.Sequential(*layers, _layer(width, out, gain))

        self.actor, self.critic = mlp(actions, 0.01), mlp(1, 1.0)

    def forward(self, obs):
        return self.actor(obs), self.critic(obs).squeeze(-1)


class LSTMActorCritic(ActorCritic):
    """A shared LSTM over the observations, with linear policy and value heads.

    ``sequence`` runs the LSTM step by step, zeroing the state of every
    environment where ``starts`` marks a new episode, so one rollout
    replays exactly as it was collected. State: ``(h, c)``, each
    ``(1, N, hidden)``.
    """

    recurrent = True

    def __init__(self, obs_size: int, actions: int, hidden: int = 64):
        super().__init__()
        self.encoder = nn.Sequential(_layer(obs_size, hidden, math.sqrt(2)), nn.Tanh())
        self.lstm = nn.LSTM(hidden, hidden)
        for name, p in self.lstm.named_parameters():
            if "bias" in name:
                nn.init.zeros_(p)
            else:
                nn.init.orthogonal_(p, 1.0)
        self.actor, self.critic = _layer(hidden, actions, 0.01), _layer(hidden, 1, 1.0)
        self.hidden = hidden

    def initial_state(self, n: int, device=None):
        zeros = torch.zeros(1, n, self.hidden, device=device)
        return zeros, zeros.clone()

    def select_state(self, state, index):
        return tuple(s[:, index] for s in state)

    def sequence(self, obs, state, starts):
        features = self.encoder(obs)
        h, c = state
        outputs = []
        for t in range(len(obs)):
            keep = (1.0 - starts[t]).view(1, -1, 1)
            out, (h, c) = self.lstm(features[t:t + 1], (h * keep, c * keep))
            outputs.append(out)
        out = torch.cat(outputs)
        return self.actor(out), self.critic(out).squeeze(-1), (h, c)

    def forward(self, obs):
        """A single step from a fresh state: ``obs`` (N, obs)."""
        logits, values, _ = self.sequence(obs.unsqueeze(0), self.initial_state(len(obs), obs.device),
                                          torch.ones(1, len(obs), device=obs.device))
        return logits[0], values[0]


class SpikingActorCritic(ActorCritic):
    """A spiking actor: the observation is a constant input current to a layer of
    leaky integrate-and-fire neurons (``snn.Leaky``: membrane decay ``beta`` per
    step, threshold 1, reset by subtraction, fast-sigmoid surrogate gradient)
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
        self.steps = check.integer(owner, "steps", steps, minimum=1)
        if not 0 < beta < 1:
            raise ValueError(f"{owner}: parameter 'beta' must be in (0, 1), got {beta!r}")
        # a strong input layer (orthogonal, gain input_gain * sqrt 2) makes the neurons fire from the start
        # (CartPole at rest: ~0.1 spikes per neuron and step); at gain sqrt 2 most stay silent and learn slowly
        self.encoder = _layer(obs_size, hidden, check.real(owner, "input_gain", input_gain, positive=True)
                              * math.sqrt(2))
        self.lif = snn.Leaky(beta=beta, spike_grad=surrogate.fast_sigmoid(slope=check.real(owner, "slope", slope,
                                                                                            positive=True)))
        self.actor = _layer(hidden, actions, 0.01)
        self.critic = MLPActorCritic(obs_size, actions).critic
        self.last_spike_rate = 0.0

    def forward(self, obs):
        current = self.encoder(obs)
        membrane = torch.zeros_like(current)
        counts = torch.zeros_like(current)
        for _ in range(self.steps):
            spikes, membrane = self.lif(current, membrane)
            counts = counts + spikes
        rates = counts / self.steps
        self.last_spike_rate = float(rates.detach().mean())
        return self.actor(rates), self.critic(obs).squeeze(-1)
