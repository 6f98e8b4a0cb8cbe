"""One time step of each neuron model, in torch.

Each ``*Step`` holds a population's constants and does two things per step:
``integrate`` (advance the state by ``dt``, then threshold) and ``reset``
(after spikes were delivered). State variables are (batch, n) tensors in a
dict keyed by the model's ``state_variables``; synaptic currents come in a
dict keyed by current name. The arithmetic follows the expressions Brian2
generates for the same model (its ``exact`` integrator for LIF models, its
``euler`` one for nonlinear models), term for term, so float64 runs agree
with the Brian2 backend bit for bit. Synaptic currents are summed in order
of their names, as Brian2 orders them.
"""
from __future__ import annotations

import numpy as np
import torch

from ..equations import NeuronModel
from ..neurons import LIF, AdaptiveLIF, AdEx, Izhikevich
from . import torch_math


def _sum(terms):
    """Left-to-right sum of tensors, or None for none."""
    out = None
    for term in terms:
        out = term if out is None else out + term
    return out


class LIFStep:
    """LIF and AdaptiveLIF: exact integration (exponential Euler when
    conductances arrive), refractory clamp, adaptive threshold."""

    gated = ("v",)  # variables whose synaptic input is discarded while refractory

    def __init__(self, model: LIF, currents: tuple[tuple[str, float], ...], dt: float,
                 conductances: tuple[tuple[str, float, float], ...] = ()):
        a, e_m, c, e = model.propagators(dt, tuple(tau for _, tau in currents))
        self.a, self.e_m = float(a), float(e_m)
        self.drive = model.i_bias * model.R + model.v_rest   # the value v relaxes to
        self.add_a = self.a != 0.0
        self.c, self.e = tuple(map(float, c)), tuple(map(float, e))
        self.currents = tuple(name for name, _ in currents)
        self.dt = float(dt)
        self.conductances = tuple(name for name, _, _ in conductances)
        if conductances:  # exponential Euler: v' = A + B v with A, B frozen over the step
            tau_m, R = model.tau_m, model.R
            self.k_g = tuple(float((e_rev * R) / tau_m) for _, _, e_rev in conductances)
            self.k_R, self.k_minus_R = float(R / tau_m), float((-R) / tau_m)
            self.k_A = float((R * model.i_bias) / tau_m + model.v_rest / tau_m)
            self.k_B = float(0.0 - 1.0 / tau_m)
            self.e_g = tuple(float(np.exp(-np.float64(dt) / tau)) for _, tau, _ in conductances)
            self.e = tuple(float(np.exp(-np.float64(dt) / tau)) for _, tau in currents)
        self.ref_steps = model.refractory_steps(dt)
        self.v_th, self.v_reset, self.subtract = model.v_th, model.v_reset, model.reset == "subtract"
        self.adaptive = isinstance(model, AdaptiveLIF)
        if self.adaptive:
            self.e_theta, self.theta_plus = float(np.exp(-np.float64(dt) / model.tau_theta)), model.theta_plus

    def integrate(self, x, currents, last, step, spike_fn):
        """Returns the new state, currents, spikes and where delta inputs
        may land (None: everywhere)."""
        v = x["v"]
        if self.conductances:
            v_new = self._exponential_euler(v, currents)
            currents = {**{name: e * currents[name] for e, name in zip(self.e, self.currents)},
                        **{name: e * currents[name] for e, name in zip(self.e_g, self.conductances)}}
        else:
            drive = _sum(coef * currents[name] for coef, name in zip(self.c, self.currents))
            v_new = self.e_m * v if drive is None else drive + self.e_m * v
            if self.add_a:   # (adding 0.0 changes nothing but the sign of a zero)
                v_new = self.a + v_new
            currents = {name: e * currents[name] for e, name in zip(self.e, self.currents)}
        threshold = self.v_th
        x = dict(x)
        if self.adaptive:
            x["theta"] = self.e_theta * x["theta"]
            threshold = self.v_th + x["theta"]
        if not self.ref_steps:
            x["v"] = v_new
            return x, currents, spike_fn(v_new - threshold).to(v.dtype), None
        not_ref = (step - last) >= self.ref_steps
        x["v"] = torch.where(not_ref, v_new, v)
        spikes = spike_fn(x["v"] - threshold).to(v.dtype) * not_ref
        return x, currents, spikes, not_ref & (spikes == 0)

    def learn_decay(self, e_m: torch.Tensor) -> None:
        """Integrate with the decay ``e_m = exp(-dt/tau_m)`` given as a tensor (a learned membrane time
        constant) from now on; the population has no synaptic currents or conductances."""
        self.e_m = e_m
        if self.add_a:
            self.a = self.drive + (-self.drive) * e_m

    def _exponential_euler(self, v, currents):
        """``v -> -A/B + (v + A/B) exp(B dt)``, terms ordered as Brian2 orders them."""
        g = [currents[name] for name in self.conductances]
        numerator = self.k_A + _sum([k * gj for k, gj in zip(self.k_g, g)]
                                    + [self.k_R * currents[name] for name in self.currents])
        rate = self.k_B + self.k_minus_R * g[0]
        if len(g) > 1:
            rate = rate - _sum(self.k_R * gj for gj in g[1:])
        ratio = numerator / rate
        return (-ratio) + ((ratio + v) * torch_math.exp(self.dt * rate))

    def reset(self, x, s):
        """After the spikes ``s`` (batch, n) were delivered: ``v`` set to ``v_reset`` where ``s`` is 1 (or
        lowered by ``v_th - v_reset`` with ``reset="subtract"``), and an adaptive threshold ``theta`` raised by
        ``theta_plus`` per spike (the spikes of all copies, when a batch shares one (1, n) threshold). Returns the
        new state."""
        x = dict(x)
        if self.subtract:
            jump = self.v_th - self.v_reset
            x["v"] = x["v"] - (s if jump == 1.0 else s * jump)
        else:
            x["v"] = x["v"] * (1.0 - s)
            if self.v_reset != 0.0:   # (adding 0.0 changes nothing but the sign of a zero)
                x["v"] = x["v"] + s * self.v_reset
        if self.adaptive:
            # a threshold shared by a batch of copies that learn together (1, n) grows with all their spikes
            jump = s if s.shape[0] == x["theta"].shape[0] else s.sum(0, keepdim=True)
            x["theta"] = x["theta"] + jump * self.theta_plus
        return x


class _EulerStep:
    """Shared by the nonlinear models: forward-Euler decay of currents,
    no refractory period."""

    ref_steps = 0
    gated = ("v",)

    def __init__(self, model, currents: tuple[tuple[str, float], ...], dt: float, conductances=()):
        if conductances:
            raise ValueError(f"{type(model).__name__} populations take no conductance synapses")
        self.currents = tuple(name for name, _ in currents)
        self.k = tuple(float(np.float64(dt) / tau) for _, tau in currents)

    def _currents(self, currents):
        drive = _sum(currents[name] for name in self.currents)
        return drive, {name: k * (-currents[name]) + currents[name] for k, name in zip(self.k, self.currents)}


class IzhikevichStep(_EulerStep):
    """Izhikevich: forward Euler on ``v`` (mV) and ``u`` over the model's 1 ms time scale (``dt`` in
    seconds); spikes above ``v_peak``, no refractory period."""

    def __init__(self, model: Izhikevich, currents, dt: float, conductances=()):
        super().__init__(model, currents, dt, conductances)
        dt = np.float64(dt)
        self.k_v, self.k_u = float(dt / 1e-3), float((model.a * dt) / 1e-3)
        self.c0 = 140.0 + model.i_bias
        self.b, self.c, self.d, self.v_peak = model.b, model.c, model.d, model.v_peak

    def integrate(self, x, currents, last, step, spike_fn):
        """One Euler step of ``v``, ``u`` and the currents, then the threshold ``v > v_peak``. Returns the
        new state, currents, spikes (batch, n) and None (delta inputs land everywhere)."""
        v, u = x["v"], x["u"]
        drive, currents = self._currents(currents)
        square = 0.04 * v**2
        inner = (square if drive is None else drive + square) + 5.0 * v
        v_new = self.k_v * ((self.c0 + inner) - u) + v
        u_new = self.k_u * ((self.b * v) - u) + u
        return {"v": v_new, "u": u_new}, currents, spike_fn(v_new - self.v_peak).to(v.dtype), None

    def reset(self, x, s):
        """Where ``s`` (batch, n) is 1: ``v <- c`` and ``u <- u + d``. Returns the new state."""
        return {"v": x["v"] * (1.0 - s) + s * self.c, "u": x["u"] + s * self.d}


class AdExStep(_EulerStep):
    """AdEx: forward Euler on ``v`` and ``w`` (SI units), exponential term through ``torch_math.exp``;
    spikes above ``v_peak``, no refractory period."""

    def __init__(self, model: AdEx, currents, dt: float, conductances=()):
        super().__init__(model, currents, dt, conductances)
        dt, m = np.float64(dt), model
        self.k_v, self.k_w = float(dt / m.C), float(dt / m.tau_w)
        self.k_exp, self.inv_delta, self.shift = m.delta_T * m.g_L, 1.0 / m.delta_T, 0.0 - m.v_T
        self.g_L, self.E_L, self.minus_E_L, self.a, self.i_bias = m.g_L, m.E_L, -m.E_L, m.a, m.i_bias
        self.v_reset, self.v_peak, self.b = m.v_reset, m.v_peak, m.b

    def integrate(self, x, currents, last, step, spike_fn):
        """One Euler step of ``v``, ``w`` and the currents, then the threshold ``v > v_peak``. Returns the
        new state, currents, spikes (batch, n) and None (delta inputs land everywhere)."""
        v, w = x["v"], x["w"]
        drive, currents = self._currents(currents)
        spike_current = self.k_exp * torch_math.exp(self.inv_delta * (self.shift + v))
        inner = (spike_current if drive is None else drive + spike_current) + self.g_L * (self.E_L - v)
        v_new = v + self.k_v * ((self.i_bias + inner) - w)
        w_new = self.k_w * ((self.a * (self.minus_E_L + v)) - w) + w
        return {"v": v_new, "w": w_new}, currents, spike_fn(v_new - self.v_peak).to(v.dtype), None

    def reset(self, x, s):
        """Where ``s`` (batch, n) is 1: ``v <- v_reset`` and ``w <- w + b``. Returns the new state."""
        return {"v": x["v"] * (1.0 - s) + s * self.v_reset, "w": x["w"] + s * self.b}


STEPS = {LIF: LIFStep, AdaptiveLIF: LIFStep, Izhikevich: IzhikevichStep, AdEx: AdExStep}


def step_for(network, pop):
    """The step of a population: the built-in model's, or the equations
    compiler's for a :class:`~neuroai.NeuronModel`."""
    if isinstance(pop.model, NeuronModel):
        from .torch_equations import EquationStep

        return EquationStep(network, pop)
    return STEPS[type(pop.model)](pop.model, network.currents(pop.name), network.dt, network.conductances(pop.name))
