"""Synthetic sequence tasks that probe memory over time, generated from a seed.

All return time-major tensors, ``x`` of shape ``(T, n, features)``:

- :func:`adding_problem` (Hochreiter & Schmidhuber 1997; Le et al. 2015):
  two channels, random values in [0, 1) and a marker that is 1 at two
  positions (one in each half of the sequence); the target is the sum of the
  two marked values. Predicting the mean (1) gives a mean squared error of
  1/6, the baseline to beat.
- :func:`copy_memory` (Hochreiter & Schmidhuber 1997; Arjovsky et al. 2016):
  ``length`` symbols from ``1..symbols``, ``delay`` blanks (0), a delimiter
  (``symbols + 1``) on the last blank, then ``length`` blanks during which
  the symbols must be reproduced; targets are blanks except for that recall.
  One-hot inputs of ``symbols + 2`` channels, targets as class indices (a
  label per step). Guessing blanks and then uniformly gives a cross-entropy
  of ``length * log(symbols) / (delay + 2 length)`` per step.
"""
from __future__ import annotations

import math

import torch

from .. import validation as check


def _generator(owner: str, seed) -> torch.Generator:
    return torch.Generator().manual_seed(check.seed(owner, seed))


def adding_problem(n: int, length: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``x`` (length, n, 2) float32 and targets ``y`` (n,): see the module docstring."""
    owner = "adding_problem"
    n = check.integer(owner, "n", n, minimum=1)
    length = check.integer(owner, "length", length, minimum=2)
    check.memory(owner, 16.0 * n * length, f"{n} sequences of {length} steps", "lower 'n' or 'length'")
    g = _generator(owner, seed)
    values = torch.rand(length, n, generator=g)
    half = length // 2
    first = torch.randint(0, half, (n,), generator=g)
    second = torch.randint(half, length, (n,), generator=g)
    marker = torch.zeros(length, n)
    columns = torch.arange(n)
    marker[first, columns] = 1.0
    marker[second, columns] = 1.0
    return torch.stack([values, marker], dim=-1), values[first, columns] + values[second, columns]


def copy_memory(n: int, delay: int, length: int = 10, symbols: int = 8,
                seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``x`` (delay + 2 length, n, symbols + 2) one-hot float32 and targets ``y``
    (delay + 2 length, n) int64: see the module docstring."""
    owner = "copy_memory"
    n = check.integer(owner, "n", n, minimum=1)
    delay = check.integer(owner, "delay", delay, minimum=1)
    length = check.integer(owner, "length", length, minimum=1)
    symbols = check.integer(owner, "symbols", symbols, minimum=2)
    check.memory(owner, 4.0 * n * (delay + 2 * length) * (symbols + 4), f"{n} one-hot sequences of "
                 f"{delay + 2 * length} steps and {symbols + 2} channels", "lower 'n', 'delay', 'length' or 'symbols'")
    g = _generator(owner, seed)
    sequence = torch.randint(1, symbols + 1, (length, n), generator=g)
    blanks = torch.zeros(delay + length, n, dtype=torch.long)
    tokens = torch.cat([sequence, blanks])
    tokens[length + delay - 1] = symbols + 1   # the delimiter: recall starts at the next step
    targets = torch.cat([torch.zeros(length + delay, n, dtype=torch.long), sequence])
    return torch.nn.functional.one_hot(tokens, symbols + 2).float(), targets


def copy_memory_baseline(delay: int, length: int = 10, symbols: int = 8) -> float:
    """Cross-entropy per step of the memoryless strategy (blanks, then uniform guesses)."""
    owner = "copy_memory_baseline"
    delay = check.integer(owner, "delay", delay, minimum=1)
    length = check.integer(owner, "length", length, minimum=1)
    symbols = check.integer(owner, "symbols", symbols, minimum=2)
    return length * math.log(symbols) / (delay + 2 * length)
