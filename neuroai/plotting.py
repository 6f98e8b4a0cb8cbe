"""Plots of simulation results on matplotlib axes.

Functions draw on an ``ax`` the caller made, so they work with pyplot or
with a bare ``matplotlib.figure.Figure`` (no display needed). This module
imports nothing from matplotlib itself; ``import neuroai`` never loads it.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from .results import SimulationResult

if TYPE_CHECKING:
    from .landscape import BenchmarkFunction, Trajectory


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


def contour_paths(ax, function: BenchmarkFunction, trajectories: dict[str, Trajectory],
                  levels: int | Sequence[float] = 30, log: bool = True, *, resolution: int = 200):
    """Optimizer paths over the contour lines of a two-dimensional test function.

    The contour of ``function`` covers ``function.bounds`` on a ``resolution``
    x ``resolution`` grid. ``levels``: how many contour levels, or their
    values. With ``log`` and a function whose minimum value is >= 0 (so
    ``f >= 0``), a number of levels is spaced geometrically from the smallest
    positive grid value to the largest, and colors follow a log scale;
    otherwise matplotlib picks linear levels. Each trajectory's path is drawn
    and labelled with its key (its start marked by a circle), and the known
    global minima by red stars. Returns ``ax``.
    """
    if function.dim != 2:
        raise ValueError(f"contour_paths: parameter 'function' must be two-dimensional, "
                         f"got {function.name!r} with dim={function.dim}")
    for label, path in trajectories.items():
        if path.points.shape[1] != 2:
            raise ValueError(f"contour_paths: trajectory {label!r} must have points of shape [n, 2], "
                             f"got {path.points.shape}")
    (x_low, x_high), (y_low, y_high) = function.bounds
    x, y = np.meshgrid(np.linspace(x_low, x_high, resolution), np.linspace(y_low, y_high, resolution))
    z = function(np.stack([x, y], axis=-1)).numpy()
    log = log and function.minimum_value is not None and function.minimum_value >= 0
    if log and isinstance(levels, int):
        levels = np.geomspace(z[z > 0].min(), z.max(), levels)
    ax.contour(x, y, z, levels=levels, cmap="viridis", linewidths=0.7, norm="log" if log else None)
    for label, path in trajectories.items():
        (line,) = ax.plot(path.points[:, 0], path.points[:, 1], linewidth=1.2, label=label)
        ax.plot(*path.points[0], "o", color=line.get_color(), markersize=4)
    if function.minima:
        ax.plot(*np.array(function.minima).T, "*", color="red", markersize=10, linestyle="none",
                label="global minimum")
    ax.set_xlim(x_low, x_high)
    ax.set_ylim(y_low, y_high)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_title(function.name, fontsize="medium")
    ax.legend(fontsize="small")
    return ax
