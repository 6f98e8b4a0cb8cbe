"""Checks shared by every front-end object.

Each check raises ``ValueError`` (or ``TypeError``) naming the owner, the
parameter, what was expected and what was given, so a bad argument fails
where it enters rather than deep inside Brian2 or torch.
"""
from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np


class _Described(str):
    """A description of a given value, shown as is rather than quoted."""

    def __repr__(self) -> str:
        return str(self)


def _fail(owner: str, name: str, expected: str, given, exc=ValueError):
    raise exc(f"{owner}: parameter '{name}' must be {expected}, got {given!r}")


def real(owner: str, name: str, value, *, positive=False, nonnegative=False) -> float:
    """A finite real number, optionally > 0 or >= 0, returned as float."""
    if isinstance(value, bool) or not isinstance(value, Real):
        _fail(owner, name, "a real number", value, TypeError)
    value = float(value)
    if not math.isfinite(value):
        _fail(owner, name, "finite", value)
    if positive and value <= 0:
        _fail(owner, name, "> 0", value)
    if nonnegative and value < 0:
        _fail(owner, name, ">= 0", value)
    return value


def integer(owner: str, name: str, value, *, minimum: int | None = None) -> int:
    """An integer, optionally >= minimum."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        _fail(owner, name, "an integer", value, TypeError)
    value = int(value)
    if minimum is not None and value < minimum:
        _fail(owner, name, f">= {minimum}", value)
    return value


def choice(owner: str, name: str, value, options) -> str:
    """One of a fixed set of strings."""
    if value not in options:
        _fail(owner, name, f"one of {list(options)}", value)
    return value


def name(owner: str, value) -> str:
    """An identifier usable as a variable name in every backend."""
    if not isinstance(value, str) or not value.isidentifier():
        _fail(owner, "name", "a Python identifier such as 'exc' or 'layer1'", value)
    return value


def array(owner: str, name: str, value, shape: tuple[int, ...], *, nonnegative=False) -> np.ndarray:
    """A finite float64 array of exactly ``shape`` (a scalar is broadcast)."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        _fail(owner, name, f"a real array of shape {shape}", _Described(f"dtype {arr.dtype}"), TypeError)
    arr = arr.astype(np.float64)
    if arr.ndim == 0:
        arr = np.full(shape, float(arr))
    if arr.shape != shape:
        _fail(owner, name, f"of shape {shape}", _Described(f"shape {arr.shape}"))
    if not np.all(np.isfinite(arr)):
        _fail(owner, name, "finite everywhere", _Described("an array with NaN or inf"))
    if nonnegative and np.any(arr < 0):
        _fail(owner, name, ">= 0 everywhere", _Described(f"minimum {arr.min()}"))
    return arr


def seed(owner: str, value) -> int:
    """A seed for ``numpy.random.default_rng``."""
    return integer(owner, "seed", value, minimum=0)
