"""Atomic checkpoints and exact resumption.

A checkpoint is one file written by ``torch.save`` to memory and then
:func:`neuroai.experiments.records.atomic_write` (a temporary file in the same
folder renamed over the target), so a run killed mid-write leaves the
previous checkpoint intact. It holds only tensors and plain containers, and
is read with ``torch.load(weights_only=True)``: the model, optimizer and
scheduler states, the epoch and global step, the history so far, every
callback's state, and the random number generator states (torch CPU and
CUDA, NumPy, Python ``random``, and the data loaders' own generators) as
tensors. Restoring all of them makes a resumed run produce exactly the same
numbers as one that was never interrupted.
"""
from __future__ import annotations

import io
import pickle
import random
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from .. import validation as _v
from ..experiments.records import atomic_write
from . import distributed
from .callbacks import Callback


def get_rng_state(generators=()) -> dict:
    """The global RNG states (torch, CUDA, NumPy, Python) and those of
    ``generators`` (``torch.Generator``), as tensors and plain values."""
    version, mt, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"kind": str(kind), "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "python": {"version": int(version), "state": torch.tensor(mt, dtype=torch.int64), "gauss_next": gauss},
        "generators": [g.get_state() for g in generators],
    }


def set_rng_state(state: dict, generators=()) -> None:
    """Restore what :func:`get_rng_state` returned."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    p = state["python"]
    random.setstate((p["version"], tuple(int(x) for x in p["state"].tolist()), p["gauss_next"]))
    generators = list(generators)
    if len(generators) != len(state["generators"]):
        raise ValueError(f"checkpoint: it holds {len(state['generators'])} data-loader generator state(s), "
                         f"but the loaders given use {len(generators)}")
    for g, s in zip(generators, state["generators"]):
        g.set_state(s)


def file_to_write(owner: str, name: str, path) -> Path:
    """``path`` (a ``str`` or ``os.PathLike``) as a ``Path`` that is not an existing folder."""
    path = _v.file_path(owner, name, path)
    if path.is_dir():
        raise ValueError(f"{owner}: parameter '{name}' must name a file to write, got {str(path)!r}, "
                         f"which is a folder")
    return path


def write_file(owner: str, name: str, path: Path, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` atomically, creating its folder; a folder that cannot be created or a
    file that cannot be written is a ``ValueError`` naming it and why (the original exception chained)."""
    path = file_to_write(owner, name, path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return atomic_write(path, data)
    except OSError as err:
        raise ValueError(f"{owner}: {str(path)!r} cannot be written ({_v._reason(err)}); parameter '{name}' "
                         f"must name a file in a folder that can be created and written") from err


def save_checkpoint(state: dict, path: str | Path) -> Path:
    """Write ``state`` (tensors and plain containers) to ``path`` atomically (``torch.save`` then rename),
    creating its folder. Raises ``TypeError`` if ``path`` is not a path or ``state`` holds what
    ``torch.save`` cannot pickle, and ``ValueError`` if ``path`` is a folder or cannot be written."""
    path = file_to_write("save_checkpoint", "path", path)
    buf = io.BytesIO()
    try:
        torch.save(state, buf)
    except (pickle.PicklingError, TypeError, AttributeError) as err:
        raise TypeError(f"save_checkpoint: parameter 'state' must hold tensors and plain containers only, "
                        f"got something torch.save cannot write ({_v._reason(err)})") from err
    return write_file("save_checkpoint", "path", path, buf.getvalue())


#: What :func:`load_checkpoint` reads, as its errors name it.
CHECKPOINT = "a neuroai checkpoint (a torch.save file of tensors and plain containers)"


def missing_keys(state, keys: Iterable[str]) -> str | None:
    """Why ``state`` is not a checkpoint holding ``keys`` (not a dict, or the keys it lacks), or None."""
    if not isinstance(state, dict):
        return f"it holds a {type(state).__name__}, not a dict"
    missing = [k for k in keys if k not in state]
    if missing:
        held = ", ".join(repr(k) for k in state) or "nothing"
        return f"it lacks the key(s) {', '.join(map(repr, missing))} (it holds {held})"
    return None


def _torch_load(path: Path, keys) -> dict:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:  # weights_only refused something: say what, briefly
        detail = next((line.strip() for line in str(err).splitlines()
                       if line.strip().startswith(("Unsupported", "Trying to load"))), None)
        if detail is None:
            raise
        if "GLOBAL" in detail:
            found = detail.split("GLOBAL", 1)[1].split()[0]
            raise ValueError(f"it holds objects other than tensors and plain containers ({found}), which are "
                             f"not loaded (never unpickled)") from err
        raise ValueError(f"it is not a pickle of tensors and plain containers ({detail})") from err
    problem = missing_keys(state, keys)
    if problem:
        raise ValueError(problem)
    return state


def load_checkpoint(path: str | Path, keys: Iterable[str] = (), *, owner: str = "load_checkpoint",
                    name: str = "path") -> dict:
    """Read a checkpoint with ``torch.load(weights_only=True)`` onto the CPU:
    tensors and plain containers only, nothing else is ever unpickled.

    keys: the top-level keys the checkpoint must hold. owner, name: the
    function and parameter the errors name.

    Raises ``TypeError`` if ``path`` is not a path, ``FileNotFoundError`` if
    there is no such file, and ``ValueError`` naming ``owner``, the file and
    the format (the original exception chained) if it is a folder, cannot be
    read, is not a ``torch.save`` file (text, random bytes, a truncated file),
    holds objects other than tensors and plain containers (refused unread),
    is not a dict, or lacks one of ``keys``.
    """
    if isinstance(keys, (str, bytes)) or not hasattr(keys, "__iter__"):
        raise TypeError(f"{owner}: parameter 'keys' must be a list of key names, got {keys!r}")
    keys = tuple(keys)
    if not all(isinstance(k, str) for k in keys):
        raise TypeError(f"{owner}: parameter 'keys' must hold key names (str), got {keys!r}")
    # torch's unpickler fails on arbitrary bytes with any exception type (IndexError, KeyError, ...)
    return _v.read_file(owner, name, path, CHECKPOINT, lambda p: _torch_load(p, keys), errors=(Exception,))


class Checkpoint(Callback):
    """Write the trainer's full state to ``path`` every ``every`` epochs (and
    at the last epoch), atomically. Resume with
    ``trainer.fit(..., resume=path)``. It runs after every other callback;
    under ``torch.distributed`` only rank 0 writes (every rank holds the same
    model)."""

    order = 100

    def __init__(self, path: str | Path, every: int = 1):
        self.path = file_to_write("Checkpoint", "path", path)
        self.every = _v.integer("Checkpoint", "every", every, minimum=1)
        self.last_saved_epoch = 0

    def on_epoch_end(self, trainer, epoch, logs):
        """Save ``trainer.state_dict()`` to ``path`` every ``every`` epochs, at epoch ``trainer.epochs`` and
        when training is about to stop early; ``last_saved_epoch`` records the epoch (on every rank)."""
        if epoch % self.every == 0 or epoch == trainer.epochs or trainer.stop_training:
            self.last_saved_epoch = epoch
            if distributed.is_main():
                save_checkpoint(trainer.state_dict(), self.path)
