"""NEST's translation tables (PyNN's manner): which NEST model runs each neuroai neuron model with the
synapses it receives, and which NEST synapse runs each learning rule.

:data:`NEURONS` maps ``(model class, synapse kind)`` to a :class:`NeuronTranslation`: the NEST model,
its parameters, the NEST weight and receptor of each synapse, the delay shift of NEST's event order,
and how state variables convert. :data:`RULES` maps a rule class to its NEST synapse and parameters.
Every unit conversion lives here: NEST counts milliseconds, millivolts, picoamperes, picofarads and
nanosiemens; dimensionless neuroai models pass their numbers through unchanged (times still in ms).

How each translation agrees with the Brian2 backend (measured, tested in ``tests/test_nest.py``):

* LIF + Delta -> ``iaf_psc_delta``: identical spikes. NEST adds a step's input after the decay and
  before the threshold test, neuroai after the test, so the NEST delay is one step longer, the weight
  is ``w exp(-dt/tau_m)``, the refractory period at least one step and the reset value moved one
  decay towards ``v_inf`` (see :func:`lif_delta`).
* LIF + ExponentialCurrent -> ``iaf_psc_exp_multisynapse`` (one receptor per current): identical
  spikes. Both integrate the linear system exactly and let currents enter after the threshold test;
  the delay is the same, and NEST's refractory period, which starts on the step after the spike,
  is one step shorter.
* LIF + ExponentialConductance -> ``iaf_cond_exp`` (at most two conductances, mapped to its
  excitatory and inhibitory channels): statistically equal. NEST integrates with an adaptive
  Runge-Kutta method, neuroai with exponential Euler.
* Izhikevich + Delta -> ``izhikevich`` (``consistent_integration``: forward Euler, as neuroai; its
  input enters before the next integration, as neuroai's, so the delay is the same): nearly identical
  spikes (97% on a driven population), the rest a step apart where the two Euler steps round
  differently near the threshold.
* AdEx + Delta -> ``aeif_psc_delta``: statistically equal (NEST integrates with adaptive Runge-Kutta,
  neuroai with forward Euler); its input enters after the integration, hence one step more of delay.
* Pair STDP -> ``stdp_synapse``: additive rules with ``w_min = 0`` and multiplicative ones, all-to-all
  pairing (neuroai's ``nearest`` pairs differently from NEST's nearest-neighbour synapses and is
  refused). The NEST synapse sees its presynaptic spikes delayed by the projection's delay (axonal, as
  neuroai), so weight changes follow neuroai's event for event, except where a presynaptic spike
  arrives on the step after a postsynaptic spike (NEST pairs them one step differently); plastic
  networks therefore agree statistically. Triplet STDP -> ``stdp_triplet_synapse`` likewise (77% of
  weights identical, the mean within 4%: the mispaired events also move the triplet traces). NEST applies a postsynaptic spike's potentiation when the
  next presynaptic spike arrives, so weights read back lack the potentiation since each synapse's
  last presynaptic spike.

Not translated, and refused naming the backends that run them: Hodgkin-Huxley (NEST's
``hh_psc_alpha`` takes only alpha-shaped currents, which no neuroai synapse makes), reward-modulated
STDP (``stdp_dopamine_synapse`` reads dopamine spikes through a volume transmitter, neuroai a reward
signal per step), the adaptive-threshold LIF, reset by subtraction, rate-based rules, weight
normalization and user-written equations.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..neurons import LIF, AdEx, Izhikevich
from ..plasticity import STDP, TripletSTDP
from ..synapses import Delta, ExponentialConductance, ExponentialCurrent

MS = 1e3  # NEST's milliseconds per second
OTHERS = "backends that run it: ['brian2', 'torch']"


def volts(model) -> float:
    """NEST's millivolts per unit of ``v``: 1000 for volts, 1 for a dimensionless model."""
    return 1e3 if model.units == "physical" else 1.0


def _amps(model) -> float:
    """NEST's picoamperes per unit of current: 1e12 for amperes, 1 for a dimensionless model."""
    return 1e12 if model.units == "physical" else 1.0


def _steps(t: float, dt: float) -> int:
    return int(round(t / dt))


def _lif_common(model: LIF) -> dict:
    """The parameters every LIF translation shares: C_m = tau_m / R, so that NEST's ``C dV/dt = ... + I``
    is neuroai's ``tau_m dv/dt = ... + R I``."""
    s_v = volts(model)
    resistance = model.R * 1e-9 if model.units == "physical" else model.R   # GOhm = mV / pA
    return {"tau_m": model.tau_m * MS, "C_m": model.tau_m * MS / resistance, "E_L": model.v_rest * s_v,
            "V_th": model.v_th * s_v, "I_e": model.i_bias * _amps(model)}


def _v_inf(model: LIF) -> float:
    """The LIF's resting value under its bias, in NEST's units."""
    return (model.v_rest + model.R * model.i_bias) * volts(model)


@dataclass(frozen=True)
class NeuronTranslation:
    """How NEST runs one neuroai neuron model with one kind of synapse.

    ``parameters(model, dt, network, population)``: the NEST model's parameters;
    ``weights(model, dt, network, projection)``: the NEST weight of each synapse, shape (n_synapses,);
    ``receptor(network, projection)``: NEST's receptor type of the projection's synapses;
    ``delay_shift``: NEST's delay is the neuroai delay (steps) plus this;
    ``variables(model)``: neuroai state variable -> (NEST's name, NEST units per neuroai unit); NEST's value
    at the end of a step is neuroai's at the start of the next, so monitors record them, except where NEST
    adds a step's input one step later than neuroai (``delay_shift = 1``);
    ``identical``: whether spikes are Brian2's step for step (else statistically equal).
    """

    nest_model: str
    parameters: Callable
    weights: Callable
    delay_shift: int
    variables: Callable
    identical: bool
    receptor: Callable = None  # default: receptor 0, the model's only one

    def recordable(self, model) -> dict:
        """The variables a state monitor records: ``variables(model)`` where NEST's order lets it."""
        return self.variables(model) if self.delay_shift == 0 else {}


def receptor(translation: NeuronTranslation, network, proj) -> int:
    """NEST's receptor type for ``proj``'s synapses under ``translation``."""
    return translation.receptor(network, proj) if translation.receptor else 0


def lif_delta(model: LIF, dt: float, network, population: str) -> dict:
    """``iaf_psc_delta``: refractory at least one step (NEST discards a spike's own step of input through
    it), reset moved one decay towards ``v_inf`` (NEST holds it through the step in which neuroai already
    integrates once from ``v_reset``)."""
    decay = math.exp(-dt / model.tau_m)
    return {**_lif_common(model), "t_ref": max(_steps(model.t_ref, dt), 1) * dt * MS, "refractory_input": False,
            "V_reset": _v_inf(model) + (model.v_reset * volts(model) - _v_inf(model)) * decay}


def lif_current(model: LIF, dt: float, network, population: str) -> dict:
    """``iaf_psc_exp_multisynapse``: one receptor per synaptic current (sorted by name), its refractory
    period one step shorter (NEST's starts on the step after the spike)."""
    return {**_lif_common(model), "V_reset": model.v_reset * volts(model),
            "t_ref": max(_steps(model.t_ref, dt) - 1, 0) * dt * MS,
            "tau_syn": [tau * MS for _, tau in network.currents(population)]}


def lif_conductance(model: LIF, dt: float, network, population: str) -> dict:
    """``iaf_cond_exp``: the conductance of higher reversal potential is its excitatory channel, the
    other its inhibitory one; ``g_L = 1 / R``."""
    if len(network.conductances(population)) > 2:
        raise NotImplementedError(f"nest backend: population {population!r} has "
                                  f"{len(network.conductances(population))} conductances, and NEST's iaf_cond_exp "
                                  f"two (excitatory and inhibitory); {OTHERS}")
    common = _lif_common(model)
    s_v = volts(model)
    channels = {}
    for (name, tau, e_rev), side in zip(_conductance_channels(network, population), ("ex", "in")):
        channels.update({f"E_{side}": e_rev * s_v, f"tau_syn_{side}": tau * MS})
    del common["tau_m"]
    return {**common, **channels, "g_L": common["C_m"] / (model.tau_m * MS), "V_reset": model.v_reset * s_v,
            "t_ref": max(_steps(model.t_ref, dt) - 1, 0) * dt * MS}


def _conductance_channels(network, population: str) -> list:
    """The population's conductances, excitatory channel (higher E_rev) first."""
    return sorted(network.conductances(population), key=lambda c: -c[2])


def _lif_delta_weights(model, dt, network, proj) -> np.ndarray:
    return proj.signed_weights * volts(model) * math.exp(-dt / model.tau_m)


def _current_weights(model, dt, network, proj) -> np.ndarray:
    return proj.signed_weights * _amps(model)


def _conductance_weights(model, dt, network, proj) -> np.ndarray:
    """nS (or plain numbers), negative onto the inhibitory channel (NEST routes by sign)."""
    names = [name for name, _, _ in _conductance_channels(network, proj.post)]
    per_siemens = 1e9 if model.units == "physical" else 1.0
    return proj.weights * per_siemens * (1.0 if names.index(proj.synapse.conductance) == 0 else -1.0)




def izhikevich(model: Izhikevich, dt: float, network, population: str) -> dict:
    """``izhikevich`` with ``consistent_integration`` (forward Euler, both updates from the old state)."""
    return {"a": model.a, "b": model.b, "c": model.c, "d": model.d, "I_e": model.i_bias, "V_th": model.v_peak,
            "consistent_integration": True}


def adex(model: AdEx, dt: float, network, population: str) -> dict:
    """``aeif_psc_delta`` in NEST's units (pF, nS, mV, pA, ms), no refractory period."""
    return {"C_m": model.C * 1e12, "g_L": model.g_L * 1e9, "E_L": model.E_L * 1e3, "V_th": model.v_T * 1e3,
            "Delta_T": model.delta_T * 1e3, "a": model.a * 1e9, "tau_w": model.tau_w * MS, "b": model.b * 1e12,
            "V_reset": model.v_reset * 1e3, "V_peak": model.v_peak * 1e3, "I_e": model.i_bias * 1e12, "t_ref": 0.0}


def _lif_state(model) -> dict:
    return {"v": ("V_m", volts(model))}


NEURONS = {
    (LIF, Delta): NeuronTranslation("iaf_psc_delta", lif_delta, _lif_delta_weights, 1, _lif_state, True),
    (LIF, ExponentialCurrent): NeuronTranslation(
        "iaf_psc_exp_multisynapse", lif_current, _current_weights, 0, _lif_state, True,
        receptor=lambda network, proj: [c for c, _ in network.currents(proj.post)].index(proj.synapse.current) + 1),
    (LIF, ExponentialConductance): NeuronTranslation(
        "iaf_cond_exp", lif_conductance, _conductance_weights, 0, _lif_state, False),
    (Izhikevich, Delta): NeuronTranslation(
        "izhikevich", izhikevich, lambda model, dt, network, proj: proj.signed_weights, 0,
        lambda model: {"v": ("V_m", 1.0), "u": ("U_m", 1.0)}, False),
    (AdEx, Delta): NeuronTranslation(
        "aeif_psc_delta", adex, lambda model, dt, network, proj: proj.signed_weights * 1e3, 1,
        lambda model: {"v": ("V_m", 1e3), "w": ("w", 1e12)}, False),
}


# --- learning rules -------------------------------------------------------------------------------

def stdp(rule: STDP, dt: float, weight_scale: float) -> tuple[str, dict, dict]:
    """``stdp_synapse``, its parameters and the postsynaptic neuron's, for ``rule`` when NEST's weight is
    ``weight_scale`` times neuroai's. NEST updates from traces read one step off neuroai's (its
    presynaptic trace before this step's decay, its postsynaptic one after), hence the factors
    ``exp(+-dt/tau)``; ``lambda`` is relative to ``Wmax`` for the additive rule (``mu = 0``)."""
    e_pre, e_post = math.exp(dt / rule.tau_pre), math.exp(-dt / rule.tau_post)
    additive = rule.dependence == "additive"
    lam = rule.a_plus / (rule.w_max if additive else 1.0) * e_pre
    params = {"tau_plus": rule.tau_pre * MS, "lambda": lam, "alpha": rule.a_minus / rule.a_plus * e_post / e_pre,
              "mu_plus": 0.0 if additive else 1.0, "mu_minus": 0.0 if additive else 1.0,
              "Wmax": rule.w_max * weight_scale}
    return "stdp_synapse", params, {"tau_minus": rule.tau_post * MS}


def stdp_refusal(rule: STDP, weight_scale: float) -> str | None:
    """Why NEST's synapse cannot run ``rule``, or None."""
    if rule.nearest:
        return "nearest-spike pairing (NEST's nearest-neighbour synapses pair spikes differently)"
    if rule.w_min != 0:
        return f"w_min = {rule.w_min} (NEST's stdp_synapse bounds weights to [0, w_max])"
    if rule.a_plus == 0:
        return "a_plus = 0 (NEST's stdp_synapse scales depression by the potentiation rate)"
    if rule.w_max == 0:
        return "w_max = 0"
    return None


def triplet(rule: TripletSTDP, dt: float, weight_scale: float) -> tuple[str, dict, dict]:
    """``stdp_triplet_synapse`` (all-to-all, as neuroai's rule), its parameters and the postsynaptic
    neuron's: the amplitudes in NEST's weight units, with the one-step trace factors of :func:`stdp` on the
    pair traces ``r1`` and ``o1`` that multiply both terms of each update."""
    e_pre, e_post = math.exp(dt / rule.tau_plus), math.exp(-dt / rule.tau_minus)
    params = {"tau_plus": rule.tau_plus * MS, "tau_plus_triplet": rule.tau_x * MS,
              "Aplus": rule.a2_plus * weight_scale * e_pre, "Aplus_triplet": rule.a3_plus * weight_scale * e_pre,
              "Aminus": rule.a2_minus * weight_scale * e_post, "Aminus_triplet": rule.a3_minus * weight_scale * e_post,
              "Wmax": rule.w_max * weight_scale}
    return "stdp_triplet_synapse", params, {"tau_minus": rule.tau_minus * MS, "tau_minus_triplet": rule.tau_y * MS}


def triplet_refusal(rule: TripletSTDP, weight_scale: float) -> str | None:
    """Why NEST's synapse cannot run ``rule``, or None."""
    if rule.w_min != 0:
        return f"w_min = {rule.w_min} (NEST's stdp_triplet_synapse bounds weights to [0, w_max])"
    if weight_scale < 0:
        return "an inhibitory projection (NEST's stdp_triplet_synapse bounds weights to [0, w_max], positive)"
    return None


#: rule class -> (NEST synapse, its parameters and the postsynaptic neuron's; the reason it cannot run, or None).
RULES = {STDP: (stdp, stdp_refusal), TripletSTDP: (triplet, triplet_refusal)}
