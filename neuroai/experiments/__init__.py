"""Running studies: the results folder of a run (:class:`RunRecord`) and
sweeps of a function over a grid of parameters (:func:`grid`, :func:`sweep`,
:class:`Sweep`)."""
from .records import RunRecord, atomic_write, markdown_table, versions
from .sweeps import Sweep, SweepFailed, grid, sweep

__all__ = ["RunRecord", "Sweep", "SweepFailed", "atomic_write", "grid", "markdown_table", "sweep", "versions"]
