"""Neuron models: parameters, equations and exact integration constants.

Every model states its equations and its integrator here; the backends
translate, they do not reinterpret. Units are plain SI floats (volts,
seconds, amperes, ohms) for physical models; normalized models are
dimensionless apart from time, which is always in seconds.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import validation as check

RESET_MODES = ("value", "subtract")


@dataclass(frozen=True)
class LIF:
    r"""Leaky integrate-and-fire neuron with current-based synaptic input.

    .. math::
        \tau_m \frac{dv}{dt} = v_{rest} - v + R\,(I_{bias} + \textstyle\sum_k I_k)

    where each :math:`I_k` is a synaptic current (see
    :class:`neuroai.synapses.ExponentialCurrent`). Delta synapses add their
    weight to ``v`` directly.

    Integration is exact (the linear system is solved over each step ``dt``).
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

    def __post_init__(self):
        owner = "LIF"
        object.__setattr__(self, "tau_m", check.real(owner, "tau_m", self.tau_m, positive=True))
        for p in ("v_rest", "v_reset", "v_th", "i_bias"):
            object.__setattr__(self, p, check.real(owner, p, getattr(self, p)))
        object.__setattr__(self, "R", check.real(owner, "R", self.R, positive=True))
        object.__setattr__(self, "t_ref", check.real(owner, "t_ref", self.t_ref, nonnegative=True))
        check.choice(owner, "reset", self.reset, RESET_MODES)
        check.choice(owner, "units", self.units, ("dimensionless", "physical"))
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
        out = {"LIF"}
        if self.reset == "subtract":
            out.add("reset:subtract")
        return out

    def validate_dt(self, dt: float, owner: str) -> None:
        if dt >= self.tau_m:
            raise ValueError(f"{owner}: dt ({dt} s) must be smaller than the membrane "
                             f"time constant tau_m ({self.tau_m} s)")

    def refractory_steps(self, dt: float) -> int:
        """``t_ref`` in whole steps of ``dt``."""
        return int(round(self.t_ref / dt))

    def propagators(self, dt: float, current_taus: tuple[float, ...]):
        """Constants of the exact one-step update, as float64 scalars.

        Returns ``(a, e_m, c, e)`` for
        ``v <- a + ((c[0]*I_0 + c[1]*I_1 + ...) + e_m*v)`` and ``I_k <- e[k]*I_k``.
        The arithmetic follows the order of the expressions Brian2 generates
        for its ``exact`` integrator, so float64 results agree bit for bit.
        """
        dt = np.float64(dt)
        tau_m = np.float64(self.tau_m)
        e_m = np.exp(-dt / tau_m)
        drive = self.i_bias * self.R + self.v_rest
        a = drive + (-self.i_bias * self.R - self.v_rest) * e_m
        c, e = [], []
        for tau in map(np.float64, current_taus):
            c.append(((self.R * tau * np.exp(-dt / tau)) * (-np.exp(dt / tau) + np.exp(dt / tau_m)))
                     * e_m / ((0.0 - tau_m) + tau))
            e.append(np.exp(-dt / tau))
        return a, e_m, tuple(c), tuple(e)
