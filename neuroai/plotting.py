"""Plots of simulation results on matplotlib axes.

Functions draw on an ``ax`` the caller made, so they work with pyplot or
with a bare ``matplotlib.figure.Figure`` (no display needed). This module
imports nothing from matplotlib itself; ``import neuroai`` never loads it.
"""
from __future__ import annotations

from .results import SimulationResult


def raster(ax, result: SimulationResult, name: str, *, color: str = "k", size: float = 2.0,
           title: str | None = None):
    """Spike raster of population (or input) ``name``: time in seconds on x,
    neuron index on y, one dot per spike.

    size: marker area in points^2. title: default ``"name (backend): rate Hz"``
    with the mean rate over the run. Returns ``ax``.
    """
    times, idx = result.spike_times(name), result.spike_indices(name)
    n = result.spikes[name].n
    t0 = result.start_step * result.dt
    ax.scatter(times, idx, s=size, c=color, marker=".", linewidths=0, rasterized=True)
    ax.set_xlim(t0, t0 + result.duration)
    ax.set_ylim(-0.5, n - 0.5)
    ax.set_xlabel("time (s)")
    ax.set_ylabel(f"{name} neuron")
    if title is None:
        title = f"{name} ({result.backend}): {result.rates(name).mean():.1f} Hz"
    ax.set_title(title, fontsize="medium")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return ax
