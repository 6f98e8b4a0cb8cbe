"""Checks shared by every front-end object.

Each check raises ``ValueError`` (or ``TypeError``) naming the owner, the
parameter, what was expected and what was given, so a bad argument fails
where it enters rather than deep inside Brian2 or torch. A file a user names
is read through :func:`read_file`: a missing one is a ``FileNotFoundError``,
a wrong one a ``ValueError`` naming the owner, the file and its format.

Numbers are plain SI floats; a Brian2 quantity (``20*ms``) is accepted as
well wherever :func:`real` is told the parameter's unit, converted to SI,
and refused with the expected unit named if its dimension differs. Brian2 is
imported only when a quantity is given.
"""
from __future__ import annotations

import inspect
import math
import os
import re
import stat
from numbers import Integral, Real
from pathlib import Path

import numpy as np


class _Described(str):
    """A description of a given value, shown as is rather than quoted."""

    def __repr__(self) -> str:
        return str(self)


def _fail(owner: str, name: str, expected: str, given, exc=ValueError):
    raise exc(f"{owner}: parameter '{name}' must be {expected}, got {given!r}")


#: The units :func:`real` can be told, by the name of their Brian2 unit ("1": dimensionless).
UNITS = ("second", "hertz", "volt", "amp", "ohm", "siemens", "farad", "1")


def is_quantity(value) -> bool:
    """Whether ``value`` is a Brian2 quantity (without importing Brian2)."""
    return type(value).__module__.startswith("brian2.units")


def _in_si(owner: str, name: str, value, unit) -> float:
    """A Brian2 quantity as an SI float, if its dimension is one of ``unit``
    (a unit name, a tuple of them, or "any")."""
    from brian2.units import allunits
    from brian2.units.fundamentalunits import DIMENSIONLESS, get_dimensions

    dims = get_dimensions(value)
    if unit != "any":
        allowed = (unit,) if isinstance(unit, str) else tuple(unit or ("1",))
        expected = [DIMENSIONLESS if u == "1" else getattr(allunits, u).dim for u in allowed]
        if dims not in expected:
            wanted = " or ".join("a plain number" if u == "1" else f"in units of {u}" for u in allowed)
            _fail(owner, name, wanted, _Described(str(value)))
    if np.ndim(value) != 0:
        _fail(owner, name, "a single value", _Described(str(value)))
    return float(np.asarray(value))


def real(owner: str, name: str, value, *, positive=False, nonnegative=False, unit=None) -> float:
    """A finite real number, optionally > 0 or >= 0, returned as float.

    unit: the parameter's unit (a name of :data:`UNITS`, a tuple of them,
    or "any"): a Brian2 quantity of that dimension is converted to SI. None:
    only a plain number (or a dimensionless quantity).
    """
    if is_quantity(value):
        value = _in_si(owner, name, value, unit)
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


def interval(owner: str, name: str, value, *, positive=False) -> tuple[float, float]:
    """``(low, high)``: a tuple or list of two finite reals (optionally > 0) with low <= high."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (tuple, list)) or len(value) != 2:
        _fail(owner, name, "a pair (low, high)", value, TypeError)
    low, high = (real(owner, name, v, positive=positive) for v in value)
    if high < low:
        _fail(owner, name, "(low, high) with low <= high", tuple(value))
    return low, high


def integer(owner: str, name: str, value, *, minimum: int | None = None) -> int:
    """An integer, optionally >= minimum."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        _fail(owner, name, "an integer", value, TypeError)
    value = int(value)
    if minimum is not None and value < minimum:
        _fail(owner, name, f">= {minimum}", value)
    return value


def flag(owner: str, name: str, value) -> bool:
    """True or False (numpy's bool too); anything else, "yes" or 1 included, is refused."""
    if not isinstance(value, (bool, np.bool_)):
        _fail(owner, name, "True or False", value, TypeError)
    return bool(value)


def choice(owner: str, name: str, value, options) -> str:
    """One of a fixed set of strings."""
    try:
        known = value in options
    except (TypeError, ValueError):  # unhashable (a list), or an array whose comparison has no one truth value
        known = False
    if not known:
        _fail(owner, name, f"one of {list(options)}", value)
    return value


def name(owner: str, value) -> str:
    """An identifier usable as a variable name in every backend."""
    if not isinstance(value, str) or not value.isidentifier():
        _fail(owner, "name", "a Python identifier such as 'exc' or 'layer1'", value)
    return value


def as_array(owner: str, name: str, value, expected: str) -> np.ndarray:
    """``np.asarray(value)``; nesting numpy cannot make an array of (``[[1, 2], [3]]``) is a ``TypeError``
    "<owner>: parameter '<name>' must be <expected>, got a ragged list"."""
    try:
        return np.asarray(value)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{owner}: parameter '{name}' must be {expected}, got a ragged {type(value).__name__}") from err


def keyword_options(owner: str, given, function, *, taker: str, what: str = "options",
                    skip: tuple[str, ...] = ()) -> list[str]:
    """The keyword arguments ``function`` accepts (less ``skip``), after checking that ``given`` (their
    names) holds none it does not accept and every one it requires: a ``TypeError`` naming ``owner``, the
    ``taker`` ("Adam", "the schedule") and ``what`` they are ("hyper-parameters", "options"). A
    ``function`` with ``**kwargs`` accepts any name: it checks those itself."""
    parameters = inspect.signature(function).parameters
    variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    accepted = [p for p in parameters if p not in ("self", *skip) and parameters[p].kind not in variadic]
    unknown = sorted(set(given) - set(accepted), key=repr)
    if unknown and not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        raise TypeError(f"{owner}: unknown {what} {unknown}; {taker} accepts {accepted}")
    missing = [p for p in accepted if parameters[p].default is inspect.Parameter.empty and p not in given]
    if missing:
        raise TypeError(f"{owner}: {taker} needs the {what} {missing}")
    return accepted


def array(owner: str, name: str, value, shape: tuple[int, ...], *, nonnegative=False) -> np.ndarray:
    """A finite float64 array of exactly ``shape`` (a scalar is broadcast)."""
    arr = as_array(owner, name, value, f"a real array of shape {shape}")
    if arr.dtype.kind not in "iuf":  # booleans are not numbers here: weight=True is a mistake
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


#: The most steps a duration may span (a run, a delay, a refractory period): far beyond any simulation,
#: and within the 32-bit step counters of Brian2's generated code.
MAX_STEPS = 2 ** 31 - 1


def _count(k: int, noun: str) -> str:
    return f"{k} {noun}" if k == 1 else f"{k} {noun}s"


def whole_steps(owner: str, name: str, seconds: float, dt: float, *, rounding: bool = False,
                flag: str = "") -> int:
    """``seconds`` (>= 0) as a whole number of steps ``dt``. A value that is not within rounding noise
    (1e-6 of a step) of a whole number is an error naming the nearest whole-step values, unless
    ``rounding`` (then halves round up); ``flag`` names the option that asks for rounding."""
    steps = seconds / dt
    if not steps < MAX_STEPS + 0.5:  # (infinite too: seconds / dt beyond floating point)
        _fail(owner, name, f"at most {MAX_STEPS} steps of dt={dt:g} s", _Described(f"{seconds:g} s"))
    nearest = math.floor(steps + 0.5)
    if nearest > MAX_STEPS:
        _fail(owner, name, f"at most {MAX_STEPS} steps of dt={dt:g} s", _Described(f"{seconds:g} s"))
    if not rounding and abs(steps - nearest) > 1e-6:
        below, above = math.floor(steps), math.ceil(steps)
        hint = f"; or pass {flag} to round it" if flag else ""
        _fail(owner, name, f"a whole number of steps of dt={dt:g} s (the nearest are {below * dt:g} s = "
                           f"{_count(below, 'step')} and {above * dt:g} s = {_count(above, 'step')}{hint})",
              _Described(f"{seconds:g} s"))
    return int(nearest)


def available_memory() -> int | None:
    """Bytes of memory free for a new allocation now (Linux and macOS), or None where unknown."""
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def memory(owner: str, needed: float, what: str, advice: str) -> None:
    """Fail at once, with the estimate and ``advice``, if ``needed`` bytes exceed the free memory."""
    free = available_memory()
    if free is not None and needed > free:
        raise MemoryError(f"{owner}: {what} would need about {needed / 2**30:.3g} GiB, more than the "
                          f"{free / 2**30:.3g} GiB of memory free; {advice}")


def torch_device(owner: str, device):
    """``device`` (None: CUDA if available, else the CPU) as a ``torch.device`` this torch can use."""
    import torch

    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError, ValueError, OverflowError) as err:
        raise ValueError(f"{owner}: parameter 'device' must be 'cpu', 'cuda', 'cuda:N' or a torch.device, "
                         f"got {device!r}") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{owner}: parameter 'device' is {str(device)!r} but this torch ({torch.__version__}) "
                         f"sees no CUDA device; it must be a device this torch can use, such as 'cpu'")
    return device


def file_path(owner: str, name: str, value) -> Path:
    """A path (``str`` or ``os.PathLike``) as a ``Path``; anything else is a ``TypeError``."""
    if not isinstance(value, (str, os.PathLike)):
        _fail(owner, name, "a file path (str or os.PathLike)", value, TypeError)
    if "\0" in str(os.fspath(value)):  # (the operating system cannot take it)
        _fail(owner, name, "a file path without NUL characters", value)
    return Path(value)


def folder(owner: str, name: str, value, expected: str) -> Path:
    """An existing folder: a missing one is a ``FileNotFoundError``, a file a ``ValueError``,
    each naming ``expected`` (e.g. "a folder with train.txt, valid.txt and test.txt")."""
    path = file_path(owner, name, value)
    if not path.exists():
        _fail(owner, name, expected, _Described(f"{str(path)!r}, which does not exist"), FileNotFoundError)
    if not path.is_dir():
        _fail(owner, name, expected, _Described(f"{str(path)!r}, which is a file"))
    return path


def writable_folder(owner: str, name: str, value) -> Path:
    """A folder to write into, created with its parents if missing; one that cannot be created or
    written is a ``ValueError`` naming it and why (e.g. ``Permission denied``)."""
    path = file_path(owner, name, value)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        _fail(owner, name, "a folder that can be created", _Described(f"{str(path)!r} ({_reason(err)})"))
    if not os.access(path, os.W_OK | os.X_OK):
        _fail(owner, name, "a folder that can be written", _Described(f"{str(path)!r} (not writable)"))
    return path


def _reason(err: BaseException) -> str:
    """The first sentence of an exception's message, after its type unless it is a plain ValueError."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    text = re.split(r"(?<=\.)\s+(?=[A-Z])", lines[0])[0] if lines else ""
    if type(err) is not ValueError:
        text = f"{type(err).__name__}: {text}" if text else type(err).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def read_file(owner: str, name: str, value, expected: str, parse, errors: tuple = ()):
    """``parse(path)`` of the file a user named in parameter ``name`` of ``owner``, which is
    ``expected`` (a format, e.g. "an IDX file (...)").

    Raises ``TypeError`` if ``value`` is not a path, ``FileNotFoundError`` if there is no such file,
    ``ValueError`` naming the file and ``expected`` if it is a folder or not a regular file, and
    ``ValueError`` "<owner>: '<path>' is not <expected>: <reason>" if ``parse`` raises ``OSError``
    (e.g. no permission), ``EOFError``, ``ValueError`` or one of ``errors`` (the original exception
    chained). ``parse`` raises ``ValueError(reason)`` for what it finds wrong; give ``errors`` for a
    third-party parser that fails on foreign bytes with other exception types.
    """
    path = file_path(owner, name, value)
    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError) as err:
        raise FileNotFoundError(f"{owner}: no such file {str(path)!r} (parameter '{name}')") from err
    except OSError as err:
        raise ValueError(f"{owner}: {str(path)!r} cannot be read as {expected}: {_reason(err)}") from err
    if stat.S_ISDIR(mode):
        raise ValueError(f"{owner}: {str(path)!r} is a folder, not {expected}")
    if not stat.S_ISREG(mode):
        raise ValueError(f"{owner}: {str(path)!r} is not a regular file (a device, pipe or socket), not {expected}")
    try:
        return parse(path)
    except FileNotFoundError as err:  # removed since
        raise FileNotFoundError(f"{owner}: no such file {str(path)!r} (parameter '{name}')") from err
    except (OSError, EOFError, ValueError, *errors) as err:
        raise ValueError(f"{owner}: {str(path)!r} is not {expected}: {_reason(err)}") from err


#: The largest seed: 2**32 - 1, the most that every generator neuroai seeds accepts (NumPy's legacy
#: ``np.random.seed`` and Brian2's ``seed`` take no more; torch and ``default_rng`` take more).
MAX_SEED = 2 ** 32 - 1


def seed(owner: str, value) -> int:
    """A seed for any of the generators neuroai uses: an integer in [0, :data:`MAX_SEED`]."""
    value = integer(owner, "seed", value, minimum=0)
    if value > MAX_SEED:
        _fail(owner, "seed", f"at most {MAX_SEED} (2**32 - 1)", value)
    return value


def reals(owner: str, name: str, value, *, ndim: int | None = None, finite: bool = True) -> np.ndarray:
    """A real (integer or float, not boolean) array of any shape as float64, optionally of ``ndim``
    dimensions and (by default) finite everywhere: for data whose shape is not fixed in advance
    (:func:`array` checks one exact shape). Ragged nesting, strings and objects are a ``TypeError``."""
    arr = as_array(owner, name, value, "a real array")
    if arr.dtype.kind not in "iuf":
        _fail(owner, name, "a real array", _Described(f"{type(value).__name__} of dtype {arr.dtype}"), TypeError)
    if ndim is not None and arr.ndim != ndim:
        _fail(owner, name, f"a {ndim}-D array", _Described(f"shape {arr.shape}"))
    arr = arr.astype(np.float64)
    if finite and not np.all(np.isfinite(arr)):
        _fail(owner, name, "finite everywhere", _Described("an array with NaN or inf"))
    return arr
