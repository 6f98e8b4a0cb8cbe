"""Backend registry and capability matrix.

Each backend module declares ``CAPABILITIES`` (the features of
:meth:`neuroai.Network.features` it can run), ``EQUATION_LANGUAGE`` (what it
runs of the equations users write) and a ``Runner`` class that the
:class:`neuroai.Simulator` drives. Modules are imported only when used, so
``import neuroai`` stays light.
"""
from __future__ import annotations

import importlib


class BackendError(RuntimeError):
    """A backend failed to build or run a network that passed neuroai's
    checks; the message names the network's part and gives the backend's
    own message (the original exception is the ``__cause__``)."""


class NonFiniteState(FloatingPointError):
    """A simulation's state became NaN or infinite: the message names the
    population or projection, the variable and when it was found. Finite
    parameters can do this (an Izhikevich neuron with a huge ``d``, a step
    ``dt`` too large for the model); the run stops there rather than going
    on with numbers that mean nothing."""


#: Steps between two checks for non-finite state during a run (and one at its end).
FINITE_CHECK_EVERY = 500


def nonfinite(backend: str, part: str, variable: str, step: int, finite_step: int, dt: float) -> NonFiniteState:
    """The error for ``variable`` of ``part`` (e.g. "population 'exc'") found NaN or infinite by the
    check at ``step``, the previous check (at ``finite_step``) having found every variable finite."""
    return NonFiniteState(
        f"Simulator ({backend}): {part} variable {variable!r} is NaN or infinite at t = {step * dt:.6g} s "
        f"(step {step}; every variable was finite at t = {finite_step * dt:.6g} s). The model's parameters, "
        f"weights or inputs drive it beyond floating point: check them, or try a smaller dt. To run on "
        f"regardless, pass check_finite=False to the Simulator")


BACKENDS = {"brian2": "neuroai.backends.brian2", "torch": "neuroai.backends.torch", "nest": "neuroai.backends.nest"}


def load(name: str):
    """The backend module called ``name``."""
    if not isinstance(name, str) or name not in BACKENDS:
        raise ValueError(f"Simulator: 'backend' must be one of {list(BACKENDS)}, got {name!r}")
    return importlib.import_module(BACKENDS[name])


def capabilities() -> dict[str, frozenset[str]]:
    """Backend name -> the features it supports."""
    return {name: load(name).CAPABILITIES for name in BACKENDS}


def check_supported(network, backend: str) -> None:
    """Fail, naming the backends that could, if ``backend`` cannot run ``network``."""
    caps = capabilities()
    missing = sorted(network.features() - caps[backend])
    if missing:
        able = [b for b, c in caps.items() if network.features() <= c]
        raise NotImplementedError(f"backend {backend!r} does not support {missing}; "
                                  f"backends that do: {able or 'none yet'}")


def matrix_table() -> str:
    """The capability matrix as Markdown tables: features x backends, then
    what each backend runs of the equation language (``EQUATION_LANGUAGE``)."""
    caps = capabilities()
    features = sorted(set().union(*caps.values()))
    lines = ["| feature | " + " | ".join(caps) + " |", "|---|" + "---|" * len(caps)]
    for f in features:
        lines.append(f"| {f} | " + " | ".join("yes" if f in c else "-" for c in caps.values()) + " |")
    language = {name: load(name).EQUATION_LANGUAGE for name in BACKENDS}
    lines += ["", "| equations (NeuronModel, SynapseModel) | " + " | ".join(language) + " |",
              "|---|" + "---|" * len(language)]
    for row in next(iter(language.values())):
        lines.append(f"| {row} | " + " | ".join(table[row] for table in language.values()) + " |")
    return "\n".join(lines)
