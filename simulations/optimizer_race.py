"""Optimizer race: the whole optimizer suite, learning rates tuned, on six classic 2-D test functions.

Every optimizer of :data:`neuroai.optim.OPTIMIZERS` except ``svrg`` (SVRG
reduces the variance of a finite sum of losses; a test function is a single
deterministic loss, so it has nothing to reduce) and the methods for 2-D
matrices or sparse gradients only (``muon``, ``sparse_adam``) minimizes Rosenbrock,
Beale, Himmelblau, Rastrigin, Ackley and Styblinski-Tang from each
function's standard start (:mod:`neuroai.landscape.functions`), in float64.
A run stops after ``steps`` steps, as soon as ``f - f_min <= tol``, or when
it diverges. ``gd`` and ``sgd`` are the same update (on a deterministic
function there are no mini-batches), a built-in sanity check.

Learning rates (our choice, documented): each method whose step size is a
plain hyper-parameter (gd, sgd, momentum, nesterov, adagrad, rmsprop,
adadelta, adam, adamw, nadam, radam, adamax, adafactor, rprop, asgd,
langevin, and sam and asam: their base optimizer's) gets its own on each function, from a small
seeded search: ``lr_candidates`` learning rates, one log-uniform sample in
each of as many equal slices of ``log10 lr_range`` (stratified sampling:
the whole range is covered, and the seed decides where in each slice), the
same candidates for every method and function. The winner reaches the
tolerance in the fewest steps; ties and runs that never reach it are
ranked by their final error ``f - f_min`` (a diverged run last), and a full
tie goes to the smaller learning rate, so the search is deterministic given
the seed. The methods that choose their own step length within each step
(the Armijo, Goldstein and Armijo full-relaxation line searches, Newton,
Newton-CG, BFGS and L-BFGS: the entries with ``line_search``) are not tuned: their first trial step is 1, the
natural step of a Newton-type method. L-BFGS makes one iteration per step
(``max_iter=1``, with torch's default budget of 25 evaluations for its
strong-Wolfe line search; torch's default packs 20 iterations into one
``step``), so that a step is one iteration for every method. The other hyper-parameters
keep the suite's defaults (momentum 0.9; AdamW's decoupled weight decay 0.01, which
pulls toward the origin, so AdamW may settle slightly off a minimum that is
not at 0). Langevin runs at a small temperature (its stationary excess
``d T / 2`` lies far below ``tol``) with the run's seed.

Table (``summary.md``, ``metrics.csv``): per function and optimizer, the
learning rate (tuned or the first trial step), the steps to reach ``tol``
or "not reached", the final error ``f - f_min`` and the distance to the
nearest known global minimum, the loss evaluations (closure calls; line
searches evaluate several times per step) and the wall time per step.
Figures: the paths of a few optimizers on the contour of each function
(``paths.png``), and steps-to-tolerance as a heat map (``steps_to_tol.png``).

Rastrigin, Styblinski-Tang and Ackley start in the basin of a local
minimum (for Ackley, among ripples around a non-differentiable tip), so
local descent fails there: a method that reaches the global minimum does
so by a long first line-search step or a large learning rate that jumps
across basins.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import torch
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from neuroai.cli import script_main
from neuroai.experiments import RunRecord, markdown_table
from neuroai.landscape import BenchmarkFunction, Trajectory, benchmark_function, trajectory
from neuroai.optim import OPTIMIZERS, make_optimizer
from neuroai.plotting import contour_paths

FUNCTIONS = ("rosenbrock", "beale", "himmelblau", "rastrigin", "ackley", "styblinski_tang")
RACERS = tuple(name for name, spec in OPTIMIZERS.items() if name != "svrg" and spec.takes == "any")
QUICK_FUNCTIONS = ("rosenbrock", "beale")
QUICK_RACERS = ("sgd", "momentum", "adam", "bfgs", "newton", "lbfgs")
PATHS_SHOWN = ("sgd", "momentum", "adam", "bfgs", "newton", "lbfgs")   # a readable subset for the contours


@dataclass(frozen=True)
class Params:
    steps: int = 1000                     # most optimizer steps per run
    quick_steps: int = 300
    tol: float = 1e-6                     # reached when f - f_min <= tol (units of f)
    lr_range: tuple[float, float] = (1e-4, 10.0)   # the tuned learning rates are searched in [low, high]
    lr_candidates: int = 8                # one seeded log-uniform sample per equal slice of log10(lr_range)
    quick_lr_candidates: int = 5
    first_trial_step: float = 1.0         # lr of the self-stepping methods (line searches, Newton, BFGS, L-BFGS)
    lbfgs_max_iter: int = 1               # L-BFGS iterations per step (torch's default 20 would hide 20 steps in one)
    lbfgs_max_eval: int = 25              # L-BFGS closure calls per step, line search included (torch's default)
    temperature: float = 1e-8             # Langevin's (units of f): stationary excess d T / 2 = 1e-8 << tol


def is_tuned(name: str) -> bool:
    """Whether optimizer ``name`` gets a tuned learning rate: the line
    searches (L-BFGS, Armijo, Goldstein, Newton, BFGS) search their step
    length within each step; the others take a step ``lr`` to tune."""
    return not OPTIMIZERS[name].line_search


def candidate_lrs(lr_range: tuple[float, float], n: int, seed: int) -> np.ndarray:
    """``n`` learning rates, ascending: one log-uniform sample in each of
    ``n`` equal slices of ``[log10 low, log10 high]``, from ``seed``."""
    low, high = np.log10(lr_range)
    slices = (np.arange(n) + np.random.default_rng(seed).random(n)) / n
    return 10.0 ** (low + (high - low) * slices)


def hyper_parameters(name: str, lr: float, p: Params, seed: int) -> dict:
    """Keyword arguments of ``make_optimizer(name, ...)`` beyond the suite's defaults."""
    if name == "langevin":
        return {"lr": lr, "temperature": p.temperature, "seed": seed}
    if name == "lbfgs":
        return {"lr": lr, "max_iter": p.lbfgs_max_iter, "max_eval": p.lbfgs_max_eval}
    return {"lr": lr}


def final_error(function: BenchmarkFunction, path: Trajectory) -> float:
    """``f - f_min`` at the last point; ``inf`` when the run diverged."""
    value = path.values[-1]
    return float(value - function.minimum_value) if math.isfinite(value) else math.inf


def distance_to_minimum(function: BenchmarkFunction, point: np.ndarray) -> float:
    """Euclidean distance from ``point`` (``[dim]``) to the nearest known global minimum."""
    return float(np.linalg.norm(np.asarray(function.minima) - point, axis=1).min())


def rank(function: BenchmarkFunction, path: Trajectory) -> tuple[float, float]:
    """Tuning criterion, smaller is better: steps to ``tol`` (``inf`` if
    never reached), then the final error."""
    steps = path.steps_to_tol if path.converged else math.inf
    return steps, final_error(function, path)


def race(function: BenchmarkFunction, name: str, lrs: np.ndarray, p: Params, steps: int,
         seed: int) -> tuple[float, Trajectory]:
    """Run optimizer ``name`` on ``function`` once per learning rate in
    ``lrs`` (ascending; just ``first_trial_step`` for an untuned method);
    returns the winning learning rate and its trajectory (a full tie goes
    to the smaller learning rate). Once a candidate has reached ``tol`` in
    ``k`` steps, the later ones run at most ``k`` steps: past that they
    could not win, so the result is that of the full search."""
    best = None
    for lr in (lrs if is_tuned(name) else [p.first_trial_step]):
        kwargs = hyper_parameters(name, float(lr), p, seed)
        budget = best[1].steps_to_tol if best is not None and best[1].converged else steps
        path = trajectory(function, lambda params: make_optimizer(name, params, **kwargs), steps=max(budget, 1),
                          tol=p.tol)
        if best is None or rank(function, path) < rank(function, best[1]):
            best = float(lr), path
    return best


def result_row(function: BenchmarkFunction, name: str, lr: float, path: Trajectory) -> dict:
    """One line of the table."""
    return {"function": function.name, "optimizer": name, "lr": lr, "tuned": is_tuned(name),
            "steps to tol": path.steps_to_tol if path.converged else "not reached",
            "final f - f_min": final_error(function, path),
            "distance to minimum": distance_to_minimum(function, path.points[-1]),
            "diverged": path.diverged, "evaluations": path.evaluations,
            "ms/step": 1e3 * path.seconds_per_step}


def paths_figure(functions: list[BenchmarkFunction], paths: dict[tuple[str, str], Trajectory]) -> Figure:
    """One contour panel per function with the paths of :data:`PATHS_SHOWN`."""
    columns = min(3, len(functions))
    rows = -(-len(functions) // columns)
    fig = Figure(figsize=(5 * columns, 4.6 * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, columns)).ravel()
    for ax, function in zip(axes, functions):
        shown = {name: paths[function.name, name] for name in PATHS_SHOWN if (function.name, name) in paths}
        contour_paths(ax, function, shown)
    for ax in axes[len(functions):]:
        ax.set_visible(False)
    return fig


def steps_figure(rows: list[dict], functions: list[str], racers: list[str], steps: int) -> Figure:
    """Heat map of the steps to ``tol``, functions x optimizers; grey: not reached in ``steps`` steps."""
    grid = np.full((len(functions), len(racers)), np.nan)
    for r in rows:
        if r["steps to tol"] != "not reached":
            grid[functions.index(r["function"]), racers.index(r["optimizer"])] = r["steps to tol"]
    fig = Figure(figsize=(1.0 + 0.7 * len(racers), 1.5 + 0.55 * len(functions)), layout="constrained")
    ax = fig.subplots()
    ax.set_facecolor("0.85")
    image = ax.imshow(np.ma.masked_invalid(grid), cmap="viridis_r", norm=LogNorm(1, steps), aspect="auto")
    for (i, j), value in np.ndenumerate(grid):
        ax.text(j, i, "-" if np.isnan(value) else f"{value:.0f}", ha="center", va="center", fontsize=7,
                color="white" if value > math.sqrt(steps) else "black")      # dark cells: many steps
    ax.set_xticks(range(len(racers)), racers, rotation=45, ha="right")
    ax.set_yticks(range(len(functions)), functions)
    ax.set_title(f"steps to f - f_min <= tol (-: not reached in {steps} steps)")
    fig.colorbar(image, ax=ax, label="steps")
    return fig


def run(record: RunRecord, *, quick: bool = False, seed: int = 0) -> dict:
    """Race every optimizer on every function; returns the learning-rate
    candidates and, per function and optimizer, ``lr``, ``tuned``,
    ``steps_to_tol`` (``None`` if not reached), ``final_error``,
    ``distance`` and ``evaluations``."""
    p = Params()
    names = list(QUICK_FUNCTIONS if quick else FUNCTIONS)
    racers = list(QUICK_RACERS if quick else RACERS)
    steps = p.quick_steps if quick else p.steps
    lrs = candidate_lrs(p.lr_range, p.quick_lr_candidates if quick else p.lr_candidates, seed)
    record.write_config({**dataclasses.asdict(p), "quick": quick, "functions": names, "optimizers": racers,
                         "steps_used": steps, "lr_candidates_used": lrs}, seed)
    functions = [benchmark_function(name) for name in names]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)          # 2-D problems: one thread is fastest
    try:
        rows, paths = [], {}
        for function in functions:
            for name in racers:
                lr, paths[function.name, name] = race(function, name, lrs, p, steps, seed)
                rows.append(result_row(function, name, lr, paths[function.name, name]))
    finally:
        torch.set_num_threads(threads)
    print(markdown_table(rows))
    record.write_metrics(rows)
    record.save_figure(paths_figure(functions, paths), "paths")
    record.save_figure(steps_figure(rows, names, racers, steps), "steps_to_tol")
    record.write_summary(
        "Optimizer race on 2-D test functions", rows,
        f"Seed {seed}; at most {steps} steps per run, from each function's standard start; reached when "
        f"f - f_min <= {p.tol:g}. Tuned learning rates (`tuned` = True): the best of {len(lrs)} seeded "
        f"candidates ({', '.join(f'{lr:.3g}' for lr in lrs)}; one log-uniform sample per slice of "
        f"[{p.lr_range[0]:g}, {p.lr_range[1]:g}]) by fewest steps to tol, then lowest final error. The "
        f"line-search, Newton, BFGS and L-BFGS methods are not tuned: their first trial step is "
        f"{p.first_trial_step:g}. Langevin at temperature {p.temperature:g}. `evaluations`: loss "
        f"evaluations (closure calls); `ms/step`: wall time of one optimizer step, one thread.\n\n"
        f"![paths](paths.png)\n\n![steps to tol](steps_to_tol.png)")
    results = {r["function"]: {} for r in rows}
    for r in rows:
        steps_to_tol = r["steps to tol"]
        results[r["function"]][r["optimizer"]] = {
            "lr": r["lr"], "tuned": r["tuned"], "steps_to_tol": None if steps_to_tol == "not reached" else steps_to_tol,
            "final_error": r["final f - f_min"], "distance": r["distance to minimum"],
            "evaluations": r["evaluations"]}
    return {"lr_candidates": lrs.tolist(), "steps": steps, "tol": p.tol, "results": results}


if __name__ == "__main__":
    raise SystemExit(script_main(run))
