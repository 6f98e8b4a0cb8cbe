"""What the fuzz tests (``tests/test_fuzz_*.py``) share: the values they throw at entry points and the
verdict on what came back.

An entry point given any value must either accept it, and then give finite numbers, or refuse it with a
neuroai error: a ``ValueError``, ``TypeError``, ``FileNotFoundError`` or ``MemoryError`` (``NonFiniteState``
when a run diverges) raised by neuroai's own code, whose message starts with its owner ("Population 'q': ...",
"make_optimizer('sgd'): ...") and says what was expected or what was wrong. A raw error from numpy, torch,
Brian2 or Python fails the test, with the input that caused it (hypothesis shrinks it).

``NEUROAI_FUZZ_EXAMPLES`` scales every test's number of examples (default 1; e.g. 10 for a long local run).
:data:`TRIED` counts the inputs tried, per entry point, for the summary at the end of the session.
"""
from __future__ import annotations

import collections
import math
import os
import re
import traceback
from pathlib import Path

import numpy as np
import torch
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

from neuroai import NonFiniteState

PACKAGE = Path(__file__).resolve().parents[1] / "neuroai"
NEUROAI_ERRORS = (ValueError, TypeError, FileNotFoundError, MemoryError, NonFiniteState)
TRIED: collections.Counter = collections.Counter()

_OWNER = re.compile(r"^[^\s:][^:\n]{0,120}: \S")  # "Population 'q': ...", "make_optimizer('sgd'): ..."
_SAYS_WHAT = re.compile(r"\bmust\b|\bgot\b|\bunknown\b|\bwould need\b|\bno such\b|\bis not\b|\bnot\b|\bneeds?\b"
                        r"|\bNaN or infinite\b")


def fuzz_settings(examples: int) -> settings:
    """Settings of one fuzz test: ``examples`` inputs (times ``NEUROAI_FUZZ_EXAMPLES``), derandomized so CI
    tries the same inputs every time, no example database, no deadline (first calls import and compile)."""
    scale = int(os.environ.get("NEUROAI_FUZZ_EXAMPLES", "1"))
    return settings(max_examples=examples * scale, derandomize=True, database=None, deadline=None,
                    phases=(Phase.explicit, Phase.generate, Phase.shrink),
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                           HealthCheck.filter_too_much, HealthCheck.data_too_large])


def assert_neuroai_error(err: BaseException, context: str = "") -> None:
    """``err`` is an error neuroai raised on purpose, with a message of the owner-argument-expectation form."""
    where = f" ({context})" if context else ""
    assert isinstance(err, NEUROAI_ERRORS), f"raw {type(err).__name__}{where}: {err}"
    frames = traceback.extract_tb(err.__traceback__)
    origin = Path(frames[-1].filename).resolve() if frames else None
    assert origin is not None and PACKAGE in origin.parents, (
        f"{type(err).__name__} raised by {origin}, not by neuroai{where}: {err}")
    message = str(err).strip("'\"")  # (a KeyError-like repr would be quoted)
    assert _OWNER.match(message), f"the message does not start with its owner{where}: {message!r}"
    assert _SAYS_WHAT.search(message), f"the message does not say what was expected{where}: {message!r}"


def attempt(entry: str, call, *args, **kwargs):
    """``call(*args, **kwargs)``, counted under ``entry``: its result, or None if it raised a neuroai error
    (checked by :func:`assert_neuroai_error`); any other exception fails the test."""
    TRIED[entry] += 1
    try:
        return call(*args, **kwargs)
    except Exception as err:  # noqa: BLE001 -- every exception is judged
        assert_neuroai_error(err, f"{entry} with {args!r} {kwargs!r}"[:400])
        return None


def assert_finite(value, what: str) -> None:
    """Every number in ``value`` (a tensor, array, number, or a dict/list/tuple of them) is finite."""
    if isinstance(value, dict):
        for key, item in value.items():
            assert_finite(item, f"{what}[{key!r}]")
    elif isinstance(value, (list, tuple)):
        for k, item in enumerate(value):
            assert_finite(item, f"{what}[{k}]")
    elif isinstance(value, torch.Tensor):
        assert bool(torch.isfinite(value.detach()).all()), f"{what} holds NaN or inf"
    elif isinstance(value, np.ndarray) and value.dtype.kind in "fc":
        assert np.isfinite(value).all(), f"{what} holds NaN or inf"
    elif isinstance(value, float):
        assert math.isfinite(value), f"{what} is {value}"


#: Numbers a careless or adversarial caller might pass: edge values, huge and tiny, NaN and infinities.
NUMBERS = st.one_of(
    st.sampled_from([0, 1, -1, 0.5, 1e-12, 1e308, -1e308, 2 ** 31, 2 ** 63, 2 ** 64 + 1, 10 ** 30,
                     math.nan, math.inf, -math.inf, True, False, np.float32(1.5), np.int64(3), np.nan]),
    st.integers(min_value=-(2 ** 70), max_value=2 ** 70),
    st.floats(allow_nan=True, allow_infinity=True),
)

#: Anything at all: numbers, strings, containers, arrays, tensors, objects of the wrong kind.
ANYTHING = st.one_of(
    NUMBERS,
    st.none(),
    st.text(max_size=6),
    st.complex_numbers(max_magnitude=1e3),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=4),
    st.lists(st.floats(-1, 1), max_size=4).map(np.array),
    st.dictionaries(st.text(max_size=3), st.integers(-3, 3), max_size=2),
    st.sampled_from([torch.zeros(2), torch.tensor(float("nan")), np.zeros((2, 2)), np.array(["a"]), object(),
                     b"\x00", (1, 2), [[1, 2], [3]], "cuda", "nan", "1e-3", print]),
)
