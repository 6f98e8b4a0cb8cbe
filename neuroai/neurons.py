"""Neuron models: parameters, equations and exact integration constants.

Every model states its equations and its integrator here; the backends
translate, they do not reinterpret. Units are plain SI floats (volts,
seconds, amperes, ohms) for physical models; normalized models are
dimensionless apart from time, which is always in seconds.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from . import validation as check

RESET_MODES = ("value", "subtract")


@dataclass(frozen=True)
class ModelEquations:
    """A built-in model's equations in Brian2's syntax, the one statement of
    them that both the Brian2 backend and :meth:`as_model` use. ``drive``,
    the input current term, is filled in by whoever builds the group.

    parameters: name -> (SI value, Brian2 unit name, "1" if dimensionless).
    refractory: seconds (0: none).
    """

    equations: str
    threshold: str
    reset: str
    method: str
    parameters: dict
    refractory: float = 0.0

    def with_drive(self, drive: str) -> str:
        """The equations with ``drive`` (an expression in Brian2's syntax, e.g. ``"i_bias + I_syn"``) put in
        place of the ``{drive}`` input-current term."""
        return self.equations.format(drive=drive)


def _as_model(eqs: ModelEquations):
    """A built-in model's equations as a :class:`~neuroai.equations.NeuronModel`
    whose input is ``i_bias`` and Delta synapses (parameters as quantities)."""
    import brian2 as b2

    from .equations import NeuronModel

    parameters = {name: b2.Quantity(value) if unit == "1" else value * getattr(b2, unit)
                  for name, (value, unit) in eqs.parameters.items()}
    return NeuronModel(eqs.with_drive("i_bias"), threshold=eqs.threshold, reset=eqs.reset,
                       refractory=eqs.refractory, method=eqs.method, parameters=parameters)


@dataclass(frozen=True)
class LIF:
    r"""Leaky integrate-and-fire neuron with current-based synaptic input.

    .. math::
        \tau_m \frac{dv}{dt} = v_{rest} - v + R\,(I_{bias} + \textstyle\sum_k I_k)

    where each :math:`I_k` is a synaptic current (see
    :class:`neuroai.synapses.ExponentialCurrent`). Delta synapses add their
    weight to ``v`` directly.

    Integration is exact (the linear system is solved over each step ``dt``);
    a neuron receiving :class:`neuroai.synapses.ExponentialConductance` input
    is no longer linear and takes exponential-Euler steps instead.
    Each step: integrate, spike where ``v > v_th``, deliver spikes, then reset
    the neurons that spiked: to ``v_reset`` (``reset="value"``) or by
    subtracting ``v_th - v_reset`` (``reset="subtract"``). For ``t_ref`` after a
    spike (rounded to whole steps) ``v`` is clamped: it is not integrated, it
    cannot spike, and delta inputs to it are discarded.

    ``units="dimensionless"`` (the default, with normalized defaults) makes
    ``v``, ``R`` and currents plain numbers; ``units="physical"`` means volts,
    ohms and amperes (see :meth:`physical`). Times are seconds in both.
    """

    tau_m: float = 20e-3
    v_rest: float = 0.0
    v_reset: float = 0.0
    v_th: float = 1.0
    R: float = 1.0
    i_bias: float = 0.0
    t_ref: float = 0.0
    reset: str = "value"
    units: str = "dimensionless"
    state_variables: tuple[str, ...] = field(default=("v",), init=False, repr=False)
    learned_state: ClassVar[tuple[str, ...]] = ()  # variables that Simulator.to_network carries over

    def __post_init__(self):
        owner = "LIF"
        check.choice(owner, "reset", self.reset, RESET_MODES)
        check.choice(owner, "units", self.units, ("dimensionless", "physical"))
        physical = self.units == "physical"
        volt, amp, ohm = ("volt", "amp", "ohm") if physical else ("1", "1", "1")
        object.__setattr__(self, "tau_m", check.real(owner, "tau_m", self.tau_m, positive=True, unit="second"))
        for p in ("v_rest", "v_reset", "v_th"):
            object.__setattr__(self, p, check.real(owner, p, getattr(self, p), unit=volt))
        object.__setattr__(self, "i_bias", check.real(owner, "i_bias", self.i_bias, unit=amp))
        object.__setattr__(self, "R", check.real(owner, "R", self.R, positive=True, unit=ohm))
        object.__setattr__(self, "t_ref", check.real(owner, "t_ref", self.t_ref, nonnegative=True, unit="second"))
        if self.v_th <= self.v_reset:
            raise ValueError(f"LIF: v_th ({self.v_th}) must be greater than v_reset ({self.v_reset})")

    @classmethod
    def physical(cls, tau_m=20e-3, v_rest=-70e-3, v_reset=-65e-3, v_th=-50e-3,
                 R=100e6, i_bias=0.0, t_ref=2e-3, reset="value") -> "LIF":
        """LIF in volts, ohms and amperes, with cortical defaults."""
        return cls(tau_m=tau_m, v_rest=v_rest, v_reset=v_reset, v_th=v_th, R=R,
                   i_bias=i_bias, t_ref=t_ref, reset=reset, units="physical")

    @property
    def features(self) -> set[str]:
        """Capabilities a backend needs to run this model."""
        out = {type(self).__name__}
        if self.reset == "subtract":
            out.add("reset:subtract")
        if self.t_ref > 0:
            out.add("refractory")
        return out

    @property
    def v_start(self) -> float:
        """Default initial membrane potential."""
        return self.v_rest

    def initial_state(self, v: np.ndarray) -> dict[str, np.ndarray]:
        """Initial value of every state variable given the initial ``v``."""
        return {"v": v}

    def validate_dt(self, dt: float, owner: str) -> None:
        """Raise ValueError (naming ``owner``) unless ``dt`` (s) is smaller than ``tau_m`` and ``t_ref``
        spans at most :data:`~neuroai.validation.MAX_STEPS` steps of it."""
        if dt >= self.tau_m:
            raise ValueError(f"{owner}: dt ({dt} s) must be smaller than the membrane "
                             f"time constant tau_m ({self.tau_m} s)")
        check.whole_steps(owner, "t_ref", self.t_ref, dt, rounding=True)

    def validate_current(self, tau: float, owner: str) -> None:
        """A synaptic current with time constant ``tau`` may enter this model."""
        if abs(tau - self.tau_m) <= 1e-9 * self.tau_m:
            raise ValueError(f"{owner}: ExponentialCurrent tau ({tau} s) must differ from the "
                             f"target's tau_m ({self.tau_m} s): exact integration is singular there")

    def refractory_steps(self, dt: float) -> int:
        """``t_ref`` in whole steps of ``dt``."""
        return int(round(self.t_ref / dt))

    @property
    def variable_units(self) -> dict[str, str]:
        """Each state variable's unit (Brian2's name; "1": dimensionless)."""
        return dict.fromkeys(self.state_variables, "volt" if self.units == "physical" else "1")

    def equations(self, dt: float | None = None) -> ModelEquations:
        """The membrane equation (exact integration), threshold and reset;
        refractory if ``t_ref`` is at least half a step ``dt`` (None: if positive)."""
        volt, amp, ohm = ("volt", "amp", "ohm") if self.units == "physical" else ("1", "1", "1")
        gated = " (unless refractory)" if (self.t_ref > 0 if dt is None else self.refractory_steps(dt)) else ""
        eqs = [f"dv/dt = (v_rest - v + R*({{drive}}))/tau_m : {volt}{gated}"]
        parameters = dict(v_rest=(self.v_rest, volt), R=(self.R, ohm), i_bias=(self.i_bias, amp),
                          tau_m=(self.tau_m, "second"), v_th=(self.v_th, volt))
        threshold = "v > v_th"
        if self.reset == "value":
            reset, parameters["v_reset"] = "v = v_reset", (self.v_reset, volt)
        else:
            reset, parameters["v_jump"] = "v -= v_jump", (self.v_th - self.v_reset, volt)
        if isinstance(self, AdaptiveLIF):
            eqs.append(f"dtheta/dt = -theta/tau_theta : {volt}")
            parameters.update(theta_plus=(self.theta_plus, volt), tau_theta=(self.tau_theta, "second"))
            threshold, reset = "v > v_th + theta", reset + "\ntheta += theta_plus"
        return ModelEquations("\n".join(eqs), threshold, reset, "exact", parameters,
                         self.t_ref if gated else 0.0)

    def as_model(self):
        """This model written out as a :class:`~neuroai.equations.NeuronModel`:
        the same spikes and states as the built-in for input through
        ``Delta("v")`` synapses, and a starting point for one's own variant."""
        return _as_model(self.equations())

    def propagators(self, dt: float, current_taus: tuple[float, ...]):
        """Constants of the exact one-step update, as float64 scalars.

        Returns ``(a, e_m, c, e)`` for
        ``v <- a + ((c[0]*I_0 + c[1]*I_1 + ...) + e_m*v)`` and ``I_k <- e[k]*I_k``.
        The arithmetic follows the order of the expressions Brian2 generates
        for its ``exact`` integrator, so float64 results agree bit for bit.
        That order depends on refractoriness: Brian2 takes the loop invariants
        of a refractory neuron's update apart, and so multiplies the factors
        of each ``c[k]`` in another order.
        """
        dt = np.float64(dt)
        tau_m = np.float64(self.tau_m)
        e_m = np.exp(-dt / tau_m)
        drive = self.i_bias * self.R + self.v_rest
        a = drive + (-self.i_bias * self.R - self.v_rest) * e_m
        refractory = self.refractory_steps(float(dt)) > 0
        c, e = [], []
        for tau in map(np.float64, current_taus):
            e_s, rise = np.exp(-dt / tau), -np.exp(dt / tau) + np.exp(dt / tau_m)
            if refractory:
                c.append(((self.R * tau * e_s) * rise) * e_m / ((0.0 - tau_m) + tau))
            else:
                c.append((((self.R * tau) * rise) * e_s) * e_m / (tau - tau_m))
            e.append(e_s)
        return a, e_m, tuple(c), tuple(e)


@dataclass(frozen=True)
class AdaptiveLIF(LIF):
    r"""LIF with a homeostatic adaptive threshold (Diehl & Cook 2015).

    .. math::
        \tau_\theta \frac{d\theta}{dt} = -\theta, \qquad
        \text{spike when } v > v_{th} + \theta, \text{ then } \theta \leftarrow \theta + \theta_+

    The membrane equation, reset and refractoriness are those of :class:`LIF`;
    ``theta`` (units of ``v``) decays exactly. Neurons that fire a lot
    become harder to excite, which spreads activity over a population.
    """

    theta_plus: float = 0.05
    tau_theta: float = 1e4
    state_variables: tuple[str, ...] = field(default=("v", "theta"), init=False, repr=False)
    learned_state = ("theta",)  # shaped by activity; Simulator.to_network carries it

    def __post_init__(self):
        super().__post_init__()
        volt = "volt" if self.units == "physical" else "1"
        object.__setattr__(self, "theta_plus",
                           check.real("AdaptiveLIF", "theta_plus", self.theta_plus, nonnegative=True, unit=volt))
        object.__setattr__(self, "tau_theta",
                           check.real("AdaptiveLIF", "tau_theta", self.tau_theta, positive=True, unit="second"))

    def initial_state(self, v: np.ndarray) -> dict[str, np.ndarray]:
        """Initial value of every state variable given the initial ``v``: ``theta`` starts at 0."""
        return {"v": v, "theta": np.zeros_like(v)}


IZHIKEVICH_TYPES = {  # (a, b, c, d) of Izhikevich (2003), fig. 2
    "regular_spiking": (0.02, 0.2, -65.0, 8.0),
    "intrinsically_bursting": (0.02, 0.2, -55.0, 4.0),
    "chattering": (0.02, 0.2, -50.0, 2.0),
    "fast_spiking": (0.1, 0.2, -65.0, 2.0),
    "low_threshold_spiking": (0.02, 0.25, -65.0, 2.0),
    "resonator": (0.1, 0.26, -65.0, 2.0),
}


@dataclass(frozen=True)
class Izhikevich:
    r"""Izhikevich (2003) simple model, in its original millivolt units.

    .. math::
        \frac{dv}{dt} = \frac{0.04 v^2 + 5 v + 140 - u + I_{bias} + \sum_k I_k}{1\,\mathrm{ms}},
        \qquad \frac{du}{dt} = \frac{a\,(b v - u)}{1\,\mathrm{ms}}

    A spike when ``v > v_peak`` (30 mV), then ``v <- c`` and ``u <- u + d``.
    ``v`` is in mV and ``u``, currents and weights in the model's units
    (mV/ms), all plain numbers; time is in seconds. Integrated with forward
    Euler (synaptic currents too), so use a small ``dt`` (0.1 ms or less).
    Named parameter sets: :meth:`of_type` with a key of ``IZHIKEVICH_TYPES``.
    """

    a: float = 0.02
    b: float = 0.2
    c: float = -65.0
    d: float = 8.0
    i_bias: float = 0.0
    v_peak: float = 30.0
    state_variables: tuple[str, ...] = field(default=("v", "u"), init=False, repr=False)
    learned_state: ClassVar[tuple[str, ...]] = ()  # variables that Simulator.to_network carries over
    units = "dimensionless"
    variable_units = {"v": "1", "u": "1"}  # each state variable's unit (Brian2's name)

    def __post_init__(self):
        for p in ("a", "b", "c", "d", "i_bias", "v_peak"):
            object.__setattr__(self, p, check.real("Izhikevich", p, getattr(self, p)))
        if self.a <= 0:
            raise ValueError(f"Izhikevich: parameter 'a' must be > 0, got {self.a}")
        if self.v_peak <= self.c:
            raise ValueError(f"Izhikevich: v_peak ({self.v_peak}) must be greater than c ({self.c})")

    @classmethod
    def of_type(cls, name: str, i_bias: float = 0.0) -> "Izhikevich":
        """The named cortical cell type of Izhikevich (2003)."""
        check.choice("Izhikevich", "name", name, IZHIKEVICH_TYPES)
        a, b, c, d = IZHIKEVICH_TYPES[name]
        return cls(a=a, b=b, c=c, d=d, i_bias=i_bias)

    @property
    def features(self) -> set[str]:
        """Capabilities a backend needs to run this model: ``{"Izhikevich"}``."""
        return {"Izhikevich"}

    @property
    def v_start(self) -> float:
        """The stable resting potential under ``i_bias`` (the lower root of
        ``0.04 v^2 + (5 - b) v + 140 + i_bias = 0``), or ``c`` when the bias
        is above rheobase and there is no rest."""
        p = 5.0 - self.b
        disc = p * p - 0.16 * (140.0 + self.i_bias)
        return float((-p - np.sqrt(disc)) / 0.08) if disc >= 0 else self.c

    def initial_state(self, v: np.ndarray) -> dict[str, np.ndarray]:
        """``u = b v``: at rest when ``v`` is the resting potential."""
        return {"v": v, "u": self.b * v}

    def equations(self, dt: float | None = None) -> ModelEquations:
        """The model in its millivolt units (forward Euler), threshold and reset."""
        parameters = {p: (getattr(self, p), "1") for p in ("a", "b", "c", "d", "i_bias", "v_peak")}
        parameters["t_unit"] = (1e-3, "second")
        return ModelEquations("dv/dt = (0.04*v**2 + 5*v + 140 - u + {drive})/t_unit : 1\n"
                         "du/dt = a*(b*v - u)/t_unit : 1", "v > v_peak", "v = c\nu += d", "euler", parameters)

    def as_model(self):
        """This model written out as a :class:`~neuroai.equations.NeuronModel`
        (its starting state ``u = b v`` is the built-in's ``initial_state``:
        give it as ``init``); see :meth:`LIF.as_model`."""
        return _as_model(self.equations())

    def validate_dt(self, dt: float, owner: str) -> None:
        """Raise ValueError (naming ``owner``) if ``dt`` (s) exceeds 1 ms, too coarse for forward Euler."""
        if dt > 1e-3:
            raise ValueError(f"{owner}: dt ({dt} s) must be at most 1 ms for Euler integration of Izhikevich neurons")

    def validate_current(self, tau: float, owner: str) -> None:
        """Accept any synaptic current time constant ``tau`` (s): Euler integration has no singular ``tau``."""
        return None


_ADEX_UNITS = dict(C="farad", g_L="siemens", E_L="volt", v_T="volt", delta_T="volt", a="siemens", tau_w="second",
                   b="amp", v_reset="volt", v_peak="volt", i_bias="amp")


@dataclass(frozen=True)
class AdEx:
    r"""Adaptive exponential integrate-and-fire neuron (Brette & Gerstner 2005).

    .. math::
        C \frac{dv}{dt} = -g_L (v - E_L) + g_L \Delta_T e^{(v - v_T)/\Delta_T} - w + I_{bias} + \sum_k I_k,
        \qquad \tau_w \frac{dw}{dt} = a (v - E_L) - w

    A spike when ``v > v_peak``, then ``v <- v_reset`` and ``w <- w + b``.
    SI units: farads, siemens, volts, seconds, amperes. Integrated with
    forward Euler (synaptic currents too). Defaults: the tonic-spiking
    cell of Naud et al. (2008) with an adapting current.
    """

    C: float = 200e-12
    g_L: float = 10e-9
    E_L: float = -70e-3
    v_T: float = -50e-3
    delta_T: float = 2e-3
    a: float = 2e-9
    tau_w: float = 30e-3
    b: float = 0.0
    v_reset: float = -58e-3
    v_peak: float = 0.0
    i_bias: float = 0.0
    state_variables: tuple[str, ...] = field(default=("v", "w"), init=False, repr=False)
    learned_state: ClassVar[tuple[str, ...]] = ()  # variables that Simulator.to_network carries over
    units = "physical"
    variable_units = {"v": "volt", "w": "amp"}  # each state variable's unit (Brian2's name)

    def __post_init__(self):
        for p, unit in _ADEX_UNITS.items():
            positive = p in ("C", "g_L", "delta_T", "tau_w")
            object.__setattr__(self, p, check.real("AdEx", p, getattr(self, p), positive=positive, unit=unit))
        if self.v_peak <= self.v_T:
            raise ValueError(f"AdEx: v_peak ({self.v_peak}) must be greater than v_T ({self.v_T})")

    @property
    def features(self) -> set[str]:
        """Capabilities a backend needs to run this model: ``{"AdEx"}``."""
        return {"AdEx"}

    @property
    def v_start(self) -> float:
        """Default initial membrane potential: the leak reversal ``E_L`` (V)."""
        return self.E_L

    def initial_state(self, v: np.ndarray) -> dict[str, np.ndarray]:
        """Initial value of every state variable given the initial ``v`` (V): the adaptation current ``w``
        starts at 0 A."""
        return {"v": v, "w": np.zeros_like(v)}

    def equations(self, dt: float | None = None) -> ModelEquations:
        """The model in SI units (forward Euler), threshold and reset."""
        return ModelEquations("dv/dt = (g_L*(E_L - v) + g_L*delta_T*exp((v - v_T)/delta_T) - w + {drive})/C : volt\n"
                         "dw/dt = (a*(v - E_L) - w)/tau_w : amp", "v > v_peak", "v = v_reset\nw += b", "euler",
                         {p: (getattr(self, p), unit) for p, unit in _ADEX_UNITS.items()})

    def as_model(self):
        """This model written out as a :class:`~neuroai.equations.NeuronModel`; see :meth:`LIF.as_model`."""
        return _as_model(self.equations())

    def validate_dt(self, dt: float, owner: str) -> None:
        """Raise ValueError (naming ``owner``) unless ``dt`` (s) is below a tenth of both ``C / g_L`` and
        ``tau_w``, as forward Euler needs."""
        tau_m = self.C / self.g_L
        if dt >= min(tau_m, self.tau_w) / 10:
            raise ValueError(f"{owner}: dt ({dt} s) must be below a tenth of the AdEx time constants "
                             f"(C/g_L = {tau_m} s, tau_w = {self.tau_w} s) for Euler integration")

    def validate_current(self, tau: float, owner: str) -> None:
        """Accept any synaptic current time constant ``tau`` (s): Euler integration has no singular ``tau``."""
        return None


def _exprel(x):
    """(e^x - 1)/x, continuous at 0."""
    x = np.asarray(x, dtype=np.float64)
    small = np.abs(x) < 1e-8
    return np.where(small, 1.0 + x / 2, np.expm1(np.where(small, 1.0, x)) / np.where(small, 1.0, x))


@dataclass(frozen=True)
class HodgkinHuxley:
    r"""Hodgkin & Huxley (1952) squid-axon model on a patch of membrane.

    .. math::
        C \frac{dv}{dt} = \bar g_{Na} m^3 h (E_{Na} - v) + \bar g_K n^4 (E_K - v)
                         + g_L (E_L - v) + I_{bias} + \sum_k I_k,
        \qquad \frac{dx}{dt} = \alpha_x(v)(1 - x) - \beta_x(v)\, x \quad (x = m, h, n)

    with the classic rate functions (v in mV, rates in 1/ms):
    :math:`\alpha_m = 0.1 (v+40)/(1 - e^{-(v+40)/10})`, :math:`\beta_m = 4 e^{-(v+65)/18}`,
    :math:`\alpha_h = 0.07 e^{-(v+65)/20}`, :math:`\beta_h = 1/(1 + e^{-(v+35)/10})`,
    :math:`\alpha_n = 0.01 (v+55)/(1 - e^{-(v+55)/10})`, :math:`\beta_n = 0.125 e^{-(v+65)/80}`.

    SI units; defaults are the 1952 densities on a 20,000 um^2 patch. A spike
    is counted when ``v`` rises above ``v_spike``; there is no reset, and the
    neuron cannot spike again until ``v`` falls back below ``v_spike``. Gating
    variables start at their steady state. Brian2 integrates it with its
    ``exponential_euler`` method; ``dt`` must be at most 50 us.
    """

    C: float = 200e-12
    g_Na: float = 24e-6
    g_K: float = 7.2e-6
    g_L: float = 60e-9
    E_Na: float = 50e-3
    E_K: float = -77e-3
    E_L: float = -54.4e-3
    i_bias: float = 0.0
    v_spike: float = -20e-3
    state_variables: tuple[str, ...] = field(default=("v", "m", "h", "n"), init=False, repr=False)
    learned_state: ClassVar[tuple[str, ...]] = ()  # variables that Simulator.to_network carries over
    units = "physical"
    variable_units = {"v": "volt", "m": "1", "h": "1", "n": "1"}  # each state variable's unit (Brian2's name)

    def __post_init__(self):
        units = dict(C="farad", g_Na="siemens", g_K="siemens", g_L="siemens", E_Na="volt", E_K="volt", E_L="volt",
                     i_bias="amp", v_spike="volt")
        for p, unit in units.items():
            positive = p in ("C", "g_Na", "g_K", "g_L")
            object.__setattr__(self, p, check.real("HodgkinHuxley", p, getattr(self, p), positive=positive, unit=unit))

    @property
    def features(self) -> set[str]:
        """Capabilities a backend needs to run this model: ``{"HodgkinHuxley"}``."""
        return {"HodgkinHuxley"}

    @property
    def v_start(self) -> float:
        """Default initial membrane potential: -65 mV (in volts), near the resting potential."""
        return -65e-3

    @staticmethod
    def rates(v) -> dict[str, np.ndarray]:
        """alpha and beta of m, h, n (1/s) at membrane potential ``v`` (V)."""
        u = np.asarray(v, dtype=np.float64) * 1e3  # mV
        per_ms = {
            "alpha_m": 1.0 / _exprel(-(u + 40.0) / 10.0), "beta_m": 4.0 * np.exp(-(u + 65.0) / 18.0),
            "alpha_h": 0.07 * np.exp(-(u + 65.0) / 20.0), "beta_h": 1.0 / (1.0 + np.exp(-(u + 35.0) / 10.0)),
            "alpha_n": 0.1 / _exprel(-(u + 55.0) / 10.0), "beta_n": 0.125 * np.exp(-(u + 65.0) / 80.0),
        }
        return {k: 1e3 * r for k, r in per_ms.items()}

    def initial_state(self, v: np.ndarray) -> dict[str, np.ndarray]:
        """Gating variables at their steady state ``alpha / (alpha + beta)`` for ``v``."""
        r = self.rates(v)
        return {"v": v, **{x: r[f"alpha_{x}"] / (r[f"alpha_{x}"] + r[f"beta_{x}"]) for x in "mhn"}}

    def validate_dt(self, dt: float, owner: str) -> None:
        """Raise ValueError (naming ``owner``) if ``dt`` (s) exceeds 50 us, too coarse for this model."""
        if dt > 50e-6:
            raise ValueError(f"{owner}: dt ({dt} s) must be at most 5e-05 s for Hodgkin-Huxley neurons")

    def validate_current(self, tau: float, owner: str) -> None:
        """Accept any synaptic current time constant ``tau`` (s): no value is singular for this model."""
        return None
