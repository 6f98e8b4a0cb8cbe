"""Learning rules that a projection can carry.

A rule is a frozen description; each backend translates it. Traces decay
exactly (multiplied by ``exp(-dt/tau)`` every step) and update in the same
order on every backend: when a presynaptic spike arrives, the projection
delivers its (old) weight, increments the presynaptic trace, then applies
depression; when the postsynaptic neuron spikes, the postsynaptic trace is
incremented, then potentiation is applied. All presynaptic events of a step
are processed before all postsynaptic ones, as in Brian2's schedule. Weights
are magnitudes (see ``Projection``) kept within [w_min, w_max].
"""
from __future__ import annotations

from dataclasses import dataclass

from . import validation as check


class _Rule:
    """Validation shared by every rule: the time constants named in ``_taus``
    are > 0 (and longer than ``dt``), the rates named in ``_amplitudes`` are
    >= 0, and w_min <= w_max."""

    _taus: tuple[str, ...] = ()
    _amplitudes: tuple[str, ...] = ()

    def __post_init__(self):
        owner = type(self).__name__
        for p in self._taus:
            object.__setattr__(self, p, check.real(owner, p, getattr(self, p), positive=True, unit="second"))
        for p in self._amplitudes:  # (weight units, or per second: depend on the target)
            object.__setattr__(self, p, check.real(owner, p, getattr(self, p), nonnegative=True, unit="any"))
        w_min = check.real(owner, "w_min", self.w_min, unit="any")
        w_max = check.real(owner, "w_max", self.w_max, unit="any")
        object.__setattr__(self, "w_min", w_min)
        object.__setattr__(self, "w_max", w_max)
        if w_max < w_min:
            raise ValueError(f"{owner}: w_max ({w_max}) must be >= w_min ({w_min})")

    def validate_dt(self, dt: float, owner: str) -> None:
        for p in self._taus:
            if dt >= getattr(self, p):
                raise ValueError(f"{owner}: dt ({dt} s) must be smaller than {type(self).__name__} {p} "
                                 f"({getattr(self, p)} s)")


CLOCK_DRIVEN_TRACE = "\nd{0}/dt = -{0}/{1} : 1 (clock-driven)"  # traces decay exactly every step, as in torch


@dataclass(frozen=True)
class RuleEquations:
    """A spike-timing rule in the syntax of Brian2's ``Synapses``, the one
    statement of it that the Brian2 backend and ``as_synapse_model`` use.
    ``{w}`` stands for the weight variable; ``on_pre`` comes after the spike's
    delivery. parameters: name -> (value, "second", "weight" (the weight's
    unit) or "1")."""

    model: str
    on_pre: str
    on_post: str
    parameters: dict

    def as_synapse_model(self, target: str):
        """These equations as a :class:`~neuroai.equations.SynapseModel` with a dimensionless weight ``w``
        that a presynaptic spike adds to the target's variable ``target`` before ``on_pre`` runs; traces are
        integrated exactly and the parameters are given as floats (their units inferred when connected)."""
        from .equations import SynapseModel

        w = "w"
        return SynapseModel("w : 1" + self.model, on_pre=f"{target}_post += w" + self.on_pre.format(w=w),
                            on_post=self.on_post.format(w=w), method="exact",
                            parameters={name: value for name, (value, _) in self.parameters.items()})


@dataclass(frozen=True)
class STDP(_Rule):
    r"""Pair-based spike-timing-dependent plasticity with traces.

    .. math::
        \tau_{pre}\,\dot x = -x, \qquad \tau_{post}\,\dot y = -y

    On a presynaptic spike: :math:`x \leftarrow x + 1` (``nearest``: :math:`x \leftarrow 1`),
    then :math:`w \leftarrow \mathrm{clip}(w - A_-\,y\,f_-(w))`.
    On a postsynaptic spike: :math:`y \leftarrow y + 1` (``nearest``: :math:`y \leftarrow 1`),
    then :math:`w \leftarrow \mathrm{clip}(w + A_+\,x\,f_+(w))`.

    ``dependence="additive"``: :math:`f_\pm = 1` (hard bounds by clipping).
    ``dependence="multiplicative"``: :math:`f_+ = w_{max} - w`,
    :math:`f_- = w - w_{min}` (soft bounds).

    For a single pair with :math:`\Delta t = t_{post} - t_{pre}`, the additive
    rule changes the weight by :math:`A_+ e^{-\Delta t/\tau_{pre}}` for
    :math:`\Delta t > 0` and :math:`-A_- e^{\Delta t/\tau_{post}}` for
    :math:`\Delta t < 0` (the classic STDP window). ``w_min`` and ``w_max``
    are in the weight's units, and so are ``a_plus`` and ``a_minus`` of the
    additive rule; those of the multiplicative rule are dimensionless (the
    fraction of the distance to the bound per unit of trace). Times in seconds.
    """

    tau_pre: float = 20e-3
    tau_post: float = 20e-3
    a_plus: float = 0.01
    a_minus: float = 0.0105
    w_min: float = 0.0
    w_max: float = 1.0
    dependence: str = "additive"
    nearest: bool = False
    feature = "STDP"
    _taus = ("tau_pre", "tau_post")
    _amplitudes = ("a_plus", "a_minus")

    def __post_init__(self):
        super().__post_init__()
        check.choice("STDP", "dependence", self.dependence, ("additive", "multiplicative"))
        check.flag("STDP", "nearest", self.nearest)

    def equations(self) -> RuleEquations:
        """This rule as :class:`RuleEquations`: clock-driven traces ``apre`` and ``apost``, depression on a
        presynaptic spike and potentiation on a postsynaptic one, both clipped to [w_min, w_max]."""
        model = CLOCK_DRIVEN_TRACE.format("apre", "tau_pre") + CLOCK_DRIVEN_TRACE.format("apost", "tau_post")
        bump = "= 1.0" if self.nearest else "+= 1.0"
        if self.dependence == "additive":
            depress, potentiate = "{w} - a_minus * apost", "{w} + a_plus * apre"
        else:
            depress, potentiate = "{w} - a_minus * apost * ({w} - w_min)", "{w} + a_plus * apre * (w_max - {w})"
        amplitude = "weight" if self.dependence == "additive" else "1"  # multiplicative: a fraction of the range
        parameters = {p: (getattr(self, p), "second") for p in self._taus}
        parameters.update({p: (getattr(self, p), amplitude) for p in self._amplitudes})
        parameters.update(w_min=(self.w_min, "weight"), w_max=(self.w_max, "weight"))
        return RuleEquations(model, f"\napre {bump}\n{{w}} = clip({depress}, w_min, w_max)",
                             f"apost {bump}\n{{w}} = clip({potentiate}, w_min, w_max)", parameters)

    def as_synapse_model(self, target: str = "v"):
        """This rule written out as a :class:`~neuroai.equations.SynapseModel`
        whose spikes add the (dimensionless) weight ``w`` to the target's
        variable ``target``: the same weights and spikes as the built-in rule
        on a Delta synapse, and a starting point for one's own variant."""
        return self.equations().as_synapse_model(target)


@dataclass(frozen=True)
class TripletSTDP(_Rule):
    r"""Triplet STDP of Pfister & Gerstner (2006), all-to-all interactions.

    Presynaptic traces :math:`r_1, r_2` (time constants ``tau_plus``,
    ``tau_x``) and postsynaptic traces :math:`o_1, o_2` (``tau_minus``,
    ``tau_y``) jump by 1 at each spike of their neuron, after it is used:

    on a presynaptic spike :math:`w \leftarrow \mathrm{clip}(w - o_1 (A_2^- + A_3^- r_2))`;
    on a postsynaptic spike :math:`w \leftarrow \mathrm{clip}(w + r_1 (A_2^+ + A_3^+ o_2))`.

    The triplet terms make potentiation grow with the postsynaptic rate, so
    pairings repeated at high frequency potentiate whatever their order
    (Sjöström et al. 2001), which pair STDP cannot reproduce. The four
    amplitudes and the bounds are in the weight's units, times in seconds.
    Defaults: the all-to-all visual-cortex fit of Pfister & Gerstner (2006),
    table 2.
    """

    tau_plus: float = 16.8e-3
    tau_minus: float = 33.7e-3
    tau_x: float = 101e-3
    tau_y: float = 125e-3
    a2_plus: float = 5e-10
    a3_plus: float = 6.2e-3
    a2_minus: float = 7e-3
    a3_minus: float = 2.3e-4
    w_min: float = 0.0
    w_max: float = 1.0
    feature = "TripletSTDP"
    _taus = ("tau_plus", "tau_minus", "tau_x", "tau_y")
    _amplitudes = ("a2_plus", "a3_plus", "a2_minus", "a3_minus")

    def equations(self) -> RuleEquations:
        """Weights change with the traces as they were before the spike's own jump."""
        model = "".join(CLOCK_DRIVEN_TRACE.format(t, tau) for t, tau in
                        (("r1", "tau_plus"), ("r2", "tau_x"), ("o1", "tau_minus"), ("o2", "tau_y")))
        parameters = {p: (getattr(self, p), "second") for p in self._taus}
        parameters.update({p: (getattr(self, p), "weight") for p in self._amplitudes + ("w_min", "w_max")})
        return RuleEquations(model, "\n{w} = clip({w} - o1 * (a2_minus + a3_minus * r2), w_min, w_max)"
                                    "\nr1 += 1.0\nr2 += 1.0",
                             "{w} = clip({w} + r1 * (a2_plus + a3_plus * o2), w_min, w_max)\no1 += 1.0\no2 += 1.0",
                             parameters)

    def as_synapse_model(self, target: str = "v"):
        """This rule written out as a :class:`~neuroai.equations.SynapseModel`; see :meth:`STDP.as_synapse_model`."""
        return self.equations().as_synapse_model(target)


@dataclass(frozen=True)
class RewardSTDP(_Rule):
    r"""Reward-modulated STDP with an eligibility trace (Izhikevich 2007; Florian 2007).

    Pair-STDP events (see :class:`STDP`, additive) change an eligibility
    trace :math:`c` of each synapse instead of its weight; the weight follows
    the product of that trace and a global reward signal :math:`r(t)`:

    .. math::
        \tau_c \dot c = -c + \text{STDP events}, \qquad \dot w = \eta\, r(t)\, c

    The weight step ``w <- clip(w + eta * dt * r * c)`` is taken at the end of
    each step. ``signal`` names a network signal (``Network.add_signal``)
    whose values the simulator receives at run time. The trace and the
    amplitudes ``a_plus``, ``a_minus`` are dimensionless; ``eta`` is in weight
    units per second per unit of reward and trace; bounds in weight units.
    """

    signal: str = "reward"
    tau_pre: float = 20e-3
    tau_post: float = 20e-3
    tau_c: float = 1.0
    a_plus: float = 0.01
    a_minus: float = 0.0105
    eta: float = 1.0
    w_min: float = 0.0
    w_max: float = 1.0
    feature = "RewardSTDP"
    _taus = ("tau_pre", "tau_post", "tau_c")
    _amplitudes = ("a_plus", "a_minus", "eta")

    def __post_init__(self):
        if not isinstance(self.signal, str) or not self.signal.isidentifier():
            raise ValueError(f"RewardSTDP: parameter 'signal' must be an identifier, got {self.signal!r}")
        super().__post_init__()


@dataclass(frozen=True)
class _RateRule(_Rule):
    """Shared by the rate-based rules: rate traces and their validation.

    Each neuron's rate is estimated by a trace that jumps by ``1/tau`` at
    each spike and decays exactly with ``tau`` (so it reads in Hz):
    ``r_pre`` (``tau_pre``) and ``r_post`` (``tau_post``). At the end of every
    step the weight takes one Euler step of the rule's ``dw/dt``, clipped to
    [w_min, w_max]. Rate rules act on dimensionless weights (populations of
    dimensionless models).
    """

    eta: float = 1e-4
    tau_pre: float = 50e-3
    tau_post: float = 50e-3
    w_min: float = 0.0
    w_max: float = 1.0
    _taus = ("tau_pre", "tau_post")
    _amplitudes = ("eta",)


@dataclass(frozen=True)
class Hebbian(_RateRule):
    r"""Rate-based Hebbian learning with weight decay:
    :math:`\dot w = \eta\,(r_{pre}\, r_{post} - \lambda\, w)`.

    ``eta`` in 1/(Hz^2 s); ``decay`` (:math:`\lambda`) in Hz^2. Without decay
    the weights of co-active pairs grow until the bound.
    """

    decay: float = 0.0
    feature = "Hebbian"
    _amplitudes = ("eta", "decay")


@dataclass(frozen=True)
class Oja(_RateRule):
    r"""Oja's rule: :math:`\dot w = \eta\, r_{post}\,(r_{pre} - r_{post}\, w)`.

    Hebbian growth with a decay that normalizes each neuron's weight vector;
    for a linear neuron it converges to the first principal component of its
    inputs (Oja 1982). ``eta`` in 1/(Hz^2 s).
    """

    feature = "Oja"


@dataclass(frozen=True)
class BCM(_RateRule):
    r"""Bienenstock-Cooper-Munro rule with a sliding threshold:

    .. math::
        \dot w = \eta\, r_{pre}\, r_{post}\,(r_{post} - \theta), \qquad
        \tau_\theta\, \dot\theta = r_{post}^2 - \theta

    Activity above the threshold potentiates, below it depresses, and the
    threshold follows the recent mean squared rate (Euler step, ``theta`` in
    Hz^2, starting at ``theta0``). ``eta`` in 1/(Hz^3 s).
    """

    tau_theta: float = 1.0
    theta0: float = 0.0
    feature = "BCM"
    _taus = ("tau_pre", "tau_post", "tau_theta")
    _amplitudes = ("eta", "theta0")


@dataclass(frozen=True)
class SynapticNormalization:
    """Keep each postsynaptic neuron's summed input weight at ``total``.

    Every ``interval`` seconds (rounded to whole steps), at the end of the
    step and after any learning rule, each neuron's incoming weights on the
    projection are scaled by ``total / sum``; neurons whose sum is 0 are left
    alone. Sums run over presynaptic neurons in index order. Combine with a
    learning rule through ``Network.connect(..., normalization=...)``, as
    Diehl & Cook (2015) did with STDP.
    """

    total: float = 1.0
    interval: float = 1e-3
    feature = "SynapticNormalization"

    def __post_init__(self):
        object.__setattr__(self, "total",
                           check.real("SynapticNormalization", "total", self.total, positive=True, unit="any"))
        object.__setattr__(self, "interval", check.real("SynapticNormalization", "interval", self.interval,
                                                        positive=True, unit="second"))

    def interval_steps(self, dt: float) -> int:
        """``interval`` in whole steps of ``dt`` (both in seconds), at least 1."""
        return max(1, int(round(self.interval / dt)))


RATE_RULES = (Hebbian, Oja, BCM)
RULES = (STDP, TripletSTDP, RewardSTDP) + RATE_RULES
