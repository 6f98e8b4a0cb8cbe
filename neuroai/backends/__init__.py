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


BACKENDS = {"brian2": "neuroai.backends.brian2", "torch": "neuroai.backends.torch"}


def load(name: str):
    """The backend module called ``name``."""
    if name not in BACKENDS:
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
        able = [b for b, c in caps.items() if set(missing) <= c]
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
