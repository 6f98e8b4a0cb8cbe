"""Learning rules in torch: each ``*Step`` keeps a plastic projection's
state (weight magnitudes ``"w"`` of shape (n_pre, n_post) and its traces,
(batch, n) each, batch 1) and updates it in four places of the step:
``decay`` (with the neurons' integration), ``on_pre`` (when presynaptic
spikes arrive, after their delivery), ``on_post`` (after every
projection's presynaptic events) and ``on_end`` (after the resets, given
the step's signal values). The arithmetic mirrors the expressions
Brian2 generates for the same rule, so float64 trajectories agree bit for
bit. Rules change weights without gradients.
"""
from __future__ import annotations

import numpy as np
import torch

from ..plasticity import BCM, STDP, Hebbian, Oja, RewardSTDP, TripletSTDP


def _bump(trace: torch.Tensor, spikes: torch.Tensor, nearest: bool = False) -> torch.Tensor:
    """The trace after the spiking neurons' jump: ``+1``, or ``=1`` when nearest."""
    return torch.where(spikes > 0, 1.0 if nearest else trace + 1.0, trace)


class _TraceRule:
    """Traces that decay exactly: ``decays`` maps trace name -> the rule's
    attribute holding its tau (s), and ``sides`` maps it to "pre" or "post".
    ``batched``: the rule can learn from a batch of copies of the network
    at once (otherwise batch size 1 only)."""

    decays: dict[str, str] = {}
    sides: dict[str, str] = {}
    batched = False

    def __init__(self, rule, dt: float):
        self.rule = rule
        self.factors = {name: float(np.exp(-np.float64(dt) / getattr(rule, tau)))
                        for name, tau in self.decays.items()}

    def init_state(self, w: torch.Tensor, batch: int, n_pre: int, n_post: int) -> dict[str, torch.Tensor]:
        sizes = {"pre": n_pre, "post": n_post}
        return {"w": w, **{name: w.new_zeros(batch, sizes[self.sides[name]]) for name in self.decays}}

    def decay(self, st: dict) -> None:
        for name, factor in self.factors.items():
            st[name] = factor * st[name]

    def on_end(self, st: dict, signals: dict[str, float], mask: torch.Tensor) -> None:
        """Nothing happens at the end of the step unless a rule says so."""


class STDPStep(_TraceRule):
    """Pair STDP. With a batch of B > 1 copies of the network sharing one
    weight matrix, each copy keeps its own traces and the copies' weight
    changes are summed (as if their events had come one after another)."""

    decays = {"apre": "tau_pre", "apost": "tau_post"}
    sides = {"apre": "pre", "apost": "post"}
    batched = True

    @torch.no_grad()
    def on_pre(self, st: dict, spikes: torch.Tensor, mask: torch.Tensor) -> None:
        """Presynaptic spikes (B, n_pre): bump the pre trace, depress their rows."""
        if spikes.shape[0] > 1:
            st["apre"] = _bump(st["apre"], spikes, self.rule.nearest)
            self._add(st, -self.rule.a_minus * (spikes.T @ st["apost"]), mask, "minus")
            return
        rule, i = self.rule, spikes[0].nonzero().squeeze(1)
        if len(i) == 0:
            return
        st["apre"] = _bump(st["apre"], spikes, rule.nearest)
        w, y = st["w"][i], st["apost"]
        if rule.dependence == "additive":
            new = w - rule.a_minus * y
        else:
            new = w - rule.a_minus * (y * ((0.0 - rule.w_min) + w))
        st["w"][i] = new.clamp(rule.w_min, rule.w_max) * mask[i]

    @torch.no_grad()
    def on_post(self, st: dict, spikes: torch.Tensor, mask: torch.Tensor) -> None:
        """Postsynaptic spikes (B, n_post): bump the post trace, potentiate their columns."""
        if spikes.shape[0] > 1:
            st["apost"] = _bump(st["apost"], spikes, self.rule.nearest)
            self._add(st, self.rule.a_plus * (st["apre"].T @ spikes), mask, "plus")
            return
        rule, j = self.rule, spikes[0].nonzero().squeeze(1)
        if len(j) == 0:
            return
        st["apost"] = _bump(st["apost"], spikes, rule.nearest)
        w, x = st["w"][:, j], st["apre"][0].unsqueeze(1)
        if rule.dependence == "additive":
            new = w + rule.a_plus * x
        else:
            new = w + rule.a_plus * (x * (rule.w_max - w))
        st["w"][:, j] = new.clamp(rule.w_min, rule.w_max) * mask[:, j]


    def _add(self, st: dict, dw: torch.Tensor, mask: torch.Tensor, side: str) -> None:
        """``w <- clip(w + dw * f(w))``, the batch's summed change (f = 1 for additive STDP)."""
        rule, w = self.rule, st["w"]
        if rule.dependence == "multiplicative":
            dw = dw * ((rule.w_max - w) if side == "plus" else (w - rule.w_min))
        st["w"] = (w + dw).clamp(rule.w_min, rule.w_max) * mask


class TripletSTDPStep(_TraceRule):
    """Triplet STDP (Pfister & Gerstner 2006): fast and slow traces on each side, ``r1``, ``r2`` (pre)
    and ``o1``, ``o2`` (post); batch size 1 only."""

    decays = {"r1": "tau_plus", "r2": "tau_x", "o1": "tau_minus", "o2": "tau_y"}
    sides = {"r1": "pre", "r2": "pre", "o1": "post", "o2": "post"}

    @torch.no_grad()
    def on_pre(self, st: dict, spikes: torch.Tensor, mask: torch.Tensor) -> None:
        """Depress with the traces as they were before this spike, then bump r1, r2."""
        rule, i = self.rule, spikes[0].nonzero().squeeze(1)
        if len(i) == 0:
            return
        r2 = st["r2"][0, i].unsqueeze(1)
        new = st["w"][i] - st["o1"] * (rule.a2_minus + rule.a3_minus * r2)
        st["w"][i] = new.clamp(rule.w_min, rule.w_max) * mask[i]
        st["r1"], st["r2"] = _bump(st["r1"], spikes), _bump(st["r2"], spikes)

    @torch.no_grad()
    def on_post(self, st: dict, spikes: torch.Tensor, mask: torch.Tensor) -> None:
        """Potentiate with the traces as they were before this spike, then bump o1, o2."""
        rule, j = self.rule, spikes[0].nonzero().squeeze(1)
        if len(j) == 0:
            return
        o2 = st["o2"][0, j].unsqueeze(0)
        new = st["w"][:, j] + st["r1"][0].unsqueeze(1) * (rule.a2_plus + rule.a3_plus * o2)
        st["w"][:, j] = new.clamp(rule.w_min, rule.w_max) * mask[:, j]
        st["o1"], st["o2"] = _bump(st["o1"], spikes), _bump(st["o2"], spikes)


class RewardSTDPStep(_TraceRule):
    """STDP events move the eligibility ``"c"`` (n_pre, n_post); the reward moves the weights."""

    decays = {"apre": "tau_pre", "apost": "tau_post"}
    sides = {"apre": "pre", "apost": "post"}

    def __init__(self, rule, dt: float):
        super().__init__(rule, dt)
        self.e_c = float(np.exp(-np.float64(dt) / rule.tau_c))
        self.eta_dt = rule.eta * np.float64(dt)

    def init_state(self, w, batch, n_pre, n_post):
        """The weights ``w``, zero traces (batch, n_pre) and (batch, n_post), and a zero eligibility
        ``"c"`` (n_pre, n_post)."""
        return {**super().init_state(w, batch, n_pre, n_post), "c": torch.zeros_like(w)}

    def decay(self, st: dict) -> None:
        """Decay the traces and the eligibility (``tau_c``) exactly over one step."""
        super().decay(st)
        st["c"] = self.e_c * st["c"]

    @torch.no_grad()
    def on_pre(self, st: dict, spikes: torch.Tensor, mask: torch.Tensor) -> None:
        """Presynaptic spikes (1, n_pre): bump the pre trace, lower their rows of ``c`` by
        ``a_minus * apost`` (the weights do not change)."""
        i = spikes[0].nonzero().squeeze(1)
        if len(i) == 0:
            return
        st["apre"] = _bump(st["apre"], spikes)
        st["c"][i] = st["c"][i] - self.rule.a_minus * st["apost"]

    @torch.no_grad()
    def on_post(self, st: dict, spikes: torch.Tensor, mask: torch.Tensor) -> None:
        """Postsynaptic spikes (1, n_post): bump the post trace, raise their columns of ``c`` by
        ``a_plus * apre`` (the weights do not change)."""
        j = spikes[0].nonzero().squeeze(1)
        if len(j) == 0:
            return
        st["apost"] = _bump(st["apost"], spikes)
        st["c"][:, j] = st["c"][:, j] + self.rule.a_plus * st["apre"][0].unsqueeze(1)

    @torch.no_grad()
    def on_end(self, st: dict, signals: dict[str, float], mask: torch.Tensor) -> None:
        """``w <- clip(w + eta * dt * r * c)``, every step."""
        k = self.eta_dt * signals[self.rule.signal]
        if k != 0.0:
            st["w"] = (st["w"] + k * st["c"]).clamp(self.rule.w_min, self.rule.w_max) * mask


class RateRuleStep(_TraceRule):
    """Hebbian, Oja and BCM: rate traces (Hz) jump by 1/tau at each spike;
    the weights take one Euler step of the rule at the end of every step."""

    decays = {"rpre": "tau_pre", "rpost": "tau_post"}
    sides = {"rpre": "pre", "rpost": "post"}

    def __init__(self, rule, dt: float):
        super().__init__(rule, dt)
        self.k_pre, self.k_post = 1.0 / rule.tau_pre, 1.0 / rule.tau_post
        self.eta_dt = rule.eta * np.float64(dt)
        if isinstance(rule, BCM):
            self.k_theta = float(np.float64(dt) / rule.tau_theta)

    def init_state(self, w, batch, n_pre, n_post):
        """The weights ``w``, zero rate traces (batch, n_pre) and (batch, n_post), and for BCM the sliding
        threshold ``"theta"`` (batch, n_post) at ``theta0``."""
        st = super().init_state(w, batch, n_pre, n_post)
        if isinstance(self.rule, BCM):
            st["theta"] = w.new_full((batch, n_post), self.rule.theta0)
        return st

    def on_pre(self, st: dict, spikes: torch.Tensor, mask: torch.Tensor) -> None:
        """Presynaptic spikes (batch, n_pre): their rate traces jump by ``1 / tau_pre``."""
        st["rpre"] = torch.where(spikes > 0, st["rpre"] + self.k_pre, st["rpre"])

    def on_post(self, st: dict, spikes: torch.Tensor, mask: torch.Tensor) -> None:
        """Postsynaptic spikes (batch, n_post): their rate traces jump by ``1 / tau_post``."""
        st["rpost"] = torch.where(spikes > 0, st["rpost"] + self.k_post, st["rpost"])

    @torch.no_grad()
    def on_end(self, st: dict, signals: dict[str, float], mask: torch.Tensor) -> None:
        """``w <- clip(w + eta * dt * dw)`` with ``dw = x y - decay w`` (Hebbian), ``y (x - y w)`` (Oja) or
        ``x y (y - theta)`` (BCM, whose ``theta`` then takes an Euler step towards ``y**2``), every step."""
        rule, w = self.rule, st["w"]
        x, y = st["rpre"][0].unsqueeze(1), st["rpost"]  # (n_pre, 1), (1, n_post)
        if isinstance(rule, Hebbian):
            dw = (x * y) - (rule.decay * w)
        elif isinstance(rule, Oja):
            dw = y * (x - (y * w))
        else:
            dw = (x * y) * (y - st["theta"])
            st["theta"] = st["theta"] + self.k_theta * ((y**2) - st["theta"])
        st["w"] = (w + self.eta_dt * dw).clamp(rule.w_min, rule.w_max) * mask


class FixedWeights(_TraceRule):
    """No rule: weights held in the state only so that normalization can scale them."""

    batched = True

    def on_pre(self, st: dict, spikes: torch.Tensor, mask: torch.Tensor) -> None:
        """Nothing to learn."""

    def on_post(self, st: dict, spikes: torch.Tensor, mask: torch.Tensor) -> None:
        """Nothing to learn."""


@torch.no_grad()
def normalize(st: dict, total: float) -> None:
    """Scale each column of ``st["w"]`` to sum to ``total`` (zero sums left
    alone). A cumulative sum adds the rows one by one, as Brian2's bincount
    over the synapses does, so the sums agree bit for bit."""
    sums = st["w"].cumsum(0)[-1]
    # (not ``total / sums``: torch computes a scalar over a tensor as a reciprocal times the scalar)
    st["w"] = st["w"] * torch.where(sums != 0, sums.new_tensor(total) / sums, 1.0)


RULE_STEPS = {type(None): FixedWeights, STDP: STDPStep, TripletSTDP: TripletSTDPStep, RewardSTDP: RewardSTDPStep,
              Hebbian: RateRuleStep, Oja: RateRuleStep, BCM: RateRuleStep}
