"""Sweeps: one function run over a grid of parameters, in parallel, resumable.

::

    from neuroai.experiments import grid, markdown_table, sweep

    def train(lr, seed):              # top level of a module, so worker processes can load it
        ...
        return {"loss": loss, "accuracy": accuracy}

    result = sweep(train, grid(lr=[1e-3, 1e-2], seed=[0, 1, 2]), out="runs/lr_sweep")
    print(markdown_table(result.table("accuracy", by="lr")))
    result.plot("loss", x="lr")

Each cell (a dict of parameters) is one call ``fn(**cell)``. Seeds are an
ordinary axis and the sweep adds no randomness of its own, so the same cells
give the same results. A cell that raises is recorded as failed (its
parameters, the exception and its traceback) and the other cells go on; a
KeyboardInterrupt stops the sweep.

With ``out``, each cell's record is written as soon as it finishes to
``out/cells/<key>.json`` with :func:`atomic_write` (so an interrupted sweep
never leaves a half-written record), and ``out/results.csv`` is rewritten at
the end. A rerun with ``resume=True`` skips the cells that finished without
error and runs the others (failed, interrupted or new ones).
"""
from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import itertools
import json
import multiprocessing
import os
import pickle
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from numbers import Real
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from .. import validation as check
from .records import atomic_write

EXECUTORS = ("serial", "process", "ray")
STATUS_COLUMNS = ("status", "error", "seconds")


def grid(**axes) -> list[dict]:
    """Every combination of the values of the named ``axes``.

    Each axis is a non-empty sequence of values (list, tuple, range or 1-D
    numpy array). ``grid(lr=[0.1, 0.01], seed=range(3))`` gives the 6 cells
    ``{"lr": 0.1, "seed": 0}, {"lr": 0.1, "seed": 1}, ..., {"lr": 0.01, "seed": 2}``:
    the axes vary in the order given, the last one fastest, as in nested loops.
    """
    if not axes:
        raise ValueError("grid: needs at least one axis, e.g. grid(seed=[0, 1, 2])")
    values = {}
    for name, axis in axes.items():
        if isinstance(axis, np.ndarray) and axis.ndim == 1:
            axis = axis.tolist()
        if isinstance(axis, (str, bytes)) or not isinstance(axis, Sequence):
            raise TypeError(f"grid: axis '{name}' must be a sequence of values (list, tuple, range or 1-D array), "
                            f"got {axis!r}; write [{axis!r}] for a single value")
        if len(axis) == 0:
            raise ValueError(f"grid: axis '{name}' is empty; it needs at least one value")
        values[name] = list(axis)
    return [dict(zip(values, combo)) for combo in itertools.product(*values.values())]


@dataclass
class Sweep:
    """The results of :func:`sweep`.

    - rows: one dict per metric row, in the order of the cells: the cell's
      parameters, the metrics ``fn`` returned, then ``status`` ("ok" or
      "failed"), ``error`` ("" or "ExceptionType: message") and ``seconds``
      (the cell's wall time). A failed cell has one row, without metrics.
    - failed: one dict per failed cell: ``params``, ``error`` and ``traceback``
      (its text, from the process that ran the cell).
    - axes: the parameter names, in order.
    - out: the results folder, or None.
    """

    rows: list[dict]
    failed: list[dict] = field(default_factory=list)
    axes: list[str] = field(default_factory=list)
    out: Path | None = None

    def to_csv(self, path: str | Path) -> Path:
        """Write ``rows`` to ``path`` (atomically): one column per key, in
        order of first appearance, with status, error and seconds last."""
        columns = [c for c in dict.fromkeys(k for row in self.rows for k in row) if c not in STATUS_COLUMNS]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns + list(STATUS_COLUMNS), lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        return atomic_write(path, buf.getvalue(), owner="Sweep.to_csv")

    def table(self, metric: str, by: str | Sequence[str] | None = None) -> list[dict]:
        """Mean, standard deviation and count of ``metric`` for each
        combination of the ``by`` columns, over all other axes (the seeds).

        - metric: the name of a metric ``fn`` returned.
        - by: a column name or a list of them; default every axis but ``seed``
          (an empty list pools every row into one group).

        Failed rows and rows without ``metric`` are left out. Returns one dict
        per group, in order of first appearance: the ``by`` values, then
        ``mean``, ``std`` (sample standard deviation, ddof=1; NaN when n is 1)
        and ``n``. ``markdown_table`` prints it.
        """
        if not isinstance(metric, str):
            raise TypeError(f"Sweep.table: parameter 'metric' must be the name of a metric (a str), got {metric!r}")
        if by is not None and not isinstance(by, str) and not (
                isinstance(by, (list, tuple)) and all(isinstance(name, str) for name in by)):
            raise TypeError(f"Sweep.table: parameter 'by' must be a column name or a list of them, got {by!r}")
        by = [a for a in self.axes if a != "seed"] if by is None else [by] if isinstance(by, str) else list(by)
        for name in by:
            if not any(name in row for row in self.rows):
                raise ValueError(f"Sweep.table: parameter 'by' must name columns of the rows; column {name!r} is "
                                 f"in no row")
        groups: dict[tuple, tuple[dict, list[float]]] = {}
        for row in self.rows:
            if row.get("status", "ok") != "ok" or row.get(metric) is None:
                continue
            key = tuple(_hashable(row.get(name)) for name in by)
            groups.setdefault(key, ({name: row.get(name) for name in by}, []))[1].append(_number(metric, row[metric]))
        if not groups:
            columns = list(dict.fromkeys(k for row in self.rows for k in row))
            raise ValueError(f"Sweep.table: parameter 'metric' must name a metric of a finished row; no finished row "
                             f"has metric {metric!r}; the columns are {columns}")
        out = []
        for head, values in groups.values():
            v = np.asarray(values, dtype=float)
            std = float(v.std(ddof=1)) if len(v) > 1 else float("nan")
            out.append({**head, "mean": float(v.mean()), "std": std, "n": len(v)})
        return out

    def plot(self, metric: str, x: str, hue: str | None = None, ax=None):
        """The mean of ``metric`` against column ``x``, with a band of one
        standard deviation either side, over every axis not named (the seeds).

        hue: a column giving one line per value, or None for one line.
        ax: the matplotlib Axes to draw on; default a new Figure's.
        Numeric ``x`` values are sorted. Returns the Axes.
        """
        if ax is None:
            from matplotlib.figure import Figure
            ax = Figure(figsize=(5, 3.5), layout="constrained").subplots()
        lines: dict = {}
        for row in self.table(metric, by=[x] if hue is None else [hue, x]):
            label = None if hue is None else row[hue]
            lines.setdefault(_hashable(label), (label, []))[1].append(row)
        for label, rows in lines.values():
            if all(isinstance(r[x], Real) and not isinstance(r[x], bool) for r in rows):
                rows = sorted(rows, key=lambda r: r[x])
            xs = [r[x] for r in rows]
            mean = np.array([r["mean"] for r in rows])
            std = np.nan_to_num(np.array([r["std"] for r in rows]))
            (line,) = ax.plot(xs, mean, marker="o", markersize=3, label=None if hue is None else f"{hue}={label}")
            ax.fill_between(xs, mean - std, mean + std, color=line.get_color(), alpha=0.2, linewidth=0)
        ax.set_xlabel(x)
        ax.set_ylabel(metric)
        if hue is not None:
            ax.legend(frameon=False, fontsize="small")
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        return ax


def sweep(fn: Callable[..., Mapping | list], cells: Sequence[Mapping], *, out: str | Path | None = None,
          executor: str = "process", workers: int | None = None, resume: bool = True,
          progress: bool = True) -> Sweep:
    """Call ``fn(**cell)`` for every cell and gather the metrics it returns.

    - fn: the function run for each cell. It returns a dict of metrics (one
      row) or a list of dicts (several rows, e.g. one per epoch). With
      ``executor="process"`` it must be picklable: a function defined at the
      top level of a module (not a lambda, not a function inside a function).
    - cells: a list of dicts of keyword arguments for ``fn``, e.g. from :func:`grid`.
    - out: a folder for the results (created if needed), or None to keep them
      in memory only. With ``out`` the parameters must be JSON-serializable
      (numbers, strings, lists, dicts, paths, numpy values): they name the
      cell's record ``out/cells/<key>.json``, written as soon as it finishes.
      ``out/results.csv`` is written at the end.
    - executor: "serial" runs the cells one after another in this process;
      "process" in a pool of worker processes (``concurrent.futures``;
      forked on Linux, so they inherit every loaded module, spawned
      elsewhere or once CUDA is initialized here); "ray" as Ray tasks
      (``pip install "neuroai[distributed]"``; uses the running Ray if
      ``ray.init`` was called, otherwise starts a local one).
    - workers: the number of worker processes for "process" (default
      ``os.cpu_count()``), or of CPUs for a local Ray (default all);
      "serial" ignores it.
    - resume: with ``out``, skip the cells whose record says they finished
      without error; failed, interrupted and new cells run. False runs
      every cell again.
    - progress: show a tqdm progress bar.

    Returns a :class:`Sweep`; warns (RuntimeWarning) naming the failed cells, if any, and raises
    :class:`SweepFailed` if every cell failed.
    """
    check.choice("sweep", "executor", executor, EXECUTORS)
    if not callable(fn):
        raise TypeError(f"sweep: parameter 'fn' must be callable, got {fn!r}")
    if workers is not None:
        check.integer("sweep", "workers", workers, minimum=1)
    resume = check.flag("sweep", "resume", resume)
    progress = check.flag("sweep", "progress", progress)
    cells = _cells(cells)
    _check_executor(fn, executor)
    records: dict[int, dict] = {}       # cell index -> record
    paths: dict[int, tuple[str, Path]] = {}
    if out is not None:
        out = check.writable_folder("sweep", "out", out)
        check.writable_folder("sweep", "out", out / "cells")
        paths = _record_paths(cells, out / "cells")
        if resume:
            for i, (key, path) in paths.items():
                record = _load(path, key)
                if record is not None and record["status"] == "ok":
                    records[i] = record
    todo = [(i, cell) for i, cell in enumerate(cells) if i not in records]
    results = _start(fn, todo, executor, workers)   # workers start before tqdm starts its thread
    failures = 0
    with contextlib.closing(results), tqdm(total=len(cells), initial=len(records), disable=not progress,
                                            unit="cell", desc="sweep", dynamic_ncols=True) as bar:
        for i, record in results:
            if out is not None:
                _write(paths[i], cells[i], record)
            records[i] = record
            bar.update()
            if record["status"] != "ok":
                failures += 1
                bar.set_postfix(failed=failures)
    result = _collect(cells, records, out)
    if out is not None:
        result.to_csv(out / "results.csv")
    if result.failed:
        shown = "; ".join(f"{_describe(f['params'])} ({f['error']})" for f in result.failed[:5])
        more = f"; and {len(result.failed) - 5} more" if len(result.failed) > 5 else ""
        where = f" and in {out / 'cells'}" if out is not None else ""
        message = (f"sweep: {len(result.failed)} of {len(cells)} cells failed: {shown}{more}. "
                   f"Their tracebacks are in Sweep.failed{where}.")
        if len(result.failed) == len(cells):  # nothing to show for it: an error, not a warning
            raise SweepFailed(f"{message} Nothing ran: parameter 'fn' must succeed on at least one cell.", result)
        warnings.warn(message, RuntimeWarning, stacklevel=2)
    return result


class SweepFailed(RuntimeError, ValueError):
    """Every cell of a sweep failed; ``sweep`` holds the :class:`Sweep` (its
    ``failed`` list has each cell's error and traceback). A ``RuntimeError``, and a ``ValueError``
    as the arguments (``fn`` and ``cells``) gave nothing."""

    def __init__(self, message: str, sweep: Sweep):
        super().__init__(message)
        self.sweep = sweep


# --- running the cells -------------------------------------------------------

def _run_cell(fn: Callable, cell: dict) -> dict:
    """Run one cell. An Exception becomes a failed record; KeyboardInterrupt
    and SystemExit propagate and stop the sweep."""
    start = time.perf_counter()
    try:
        result = fn(**cell)
        rows = [result] if isinstance(result, Mapping) else list(result) if isinstance(result, (list, tuple)) else None
        if rows is None or not all(isinstance(row, Mapping) for row in rows):
            raise TypeError(f"sweep: fn must return a dict of metrics or a list of dicts, got {result!r}")
        return {"status": "ok", "rows": [dict(row) for row in rows] or [{}], "error": "", "traceback": "",
                "seconds": time.perf_counter() - start}
    except Exception as err:
        return _failure(err, time.perf_counter() - start)


def _failure(err: BaseException, seconds: float) -> dict:
    return {"status": "failed", "rows": [], "error": f"{type(err).__name__}: {err}",
            "traceback": "".join(traceback.format_exception(err)), "seconds": seconds}


def _check_executor(fn: Callable, executor: str) -> None:
    """Fail before any cell runs if ``executor`` cannot run ``fn``."""
    if executor == "process":
        try:
            pickle.dumps(fn)
        except Exception as err:
            raise TypeError(f"sweep: executor='process' sends fn to worker processes, so it must be a function "
                            f"defined at the top level of a module, not a lambda or a function defined inside "
                            f"another; {fn!r} cannot be pickled ({err}). Move it to module level or use "
                            f"executor='serial'.") from err
    elif executor == "ray":
        _import_ray()


def _import_ray():
    try:
        import ray
    except ImportError as err:
        raise ImportError('sweep: executor="ray" needs Ray: pip install "neuroai[distributed]" '
                          '(or use executor="process")') from err
    return ray


def _start(fn: Callable, todo: list[tuple[int, dict]], executor: str, workers: int | None) -> Iterator:
    """Start running the cells of ``todo``; returns an iterator of
    ``(index, record)`` in the order the cells finish."""
    if executor == "serial" or not todo:
        return ((i, _run_cell(fn, cell)) for i, cell in todo)
    if executor == "process":
        workers = min(workers or os.cpu_count() or 1, len(todo))
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(_start_method()))
        futures = {pool.submit(_run_cell, fn, cell): i for i, cell in todo}   # forks every worker now
        return _gather_futures(pool, futures)
    ray = _import_ray()
    if not ray.is_initialized():
        ray.init(num_cpus=workers)
    task = ray.remote(_run_cell)
    return _gather_ray(ray, {task.remote(fn, cell): i for i, cell in todo})


def _start_method() -> str:
    """fork on Linux: workers start at once and inherit every loaded module,
    so functions defined in a notebook, in ``__main__`` or in a script run by
    ``neuroai run`` work. spawn on macOS and Windows (where fork is unsafe or
    missing), and once CUDA is initialized here (a forked child cannot use it)."""
    torch = sys.modules.get("torch")
    cuda = torch is not None and torch.cuda.is_initialized()
    return "fork" if sys.platform.startswith("linux") and not cuda else "spawn"


def _gather_futures(pool: ProcessPoolExecutor, futures: dict) -> Iterator:
    try:
        for future in as_completed(futures):
            yield futures[future], _outcome(future.result)
    except BaseException:               # KeyboardInterrupt, or the sweep stopped early
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()


def _gather_ray(ray, pending: dict) -> Iterator:
    try:
        while pending:
            [ref], _ = ray.wait(list(pending), num_returns=1)
            yield pending.pop(ref), _outcome(lambda: ray.get(ref))
    except BaseException:
        for ref in pending:
            ray.cancel(ref)
        raise


def _outcome(get: Callable[[], dict]) -> dict:
    """The record a worker sent back, or a failed record when the worker
    could not run the cell (a crash, an argument that cannot be pickled)."""
    try:
        return get()
    except Exception as err:
        return _failure(err, 0.0)


# --- cells, records and results ------------------------------------------------

def _cells(cells) -> list[dict]:
    given = cells
    try:
        cells = None if isinstance(cells, (Mapping, str, bytes)) else list(cells)
    except TypeError:  # (not iterable, or a 0-d array)
        cells = None
    if cells is None:
        raise TypeError(f"sweep: parameter 'cells' must be a list of dicts (e.g. from grid(...)), got {given!r}")
    for cell in cells:
        if not isinstance(cell, Mapping) or not all(isinstance(k, str) for k in cell):
            raise TypeError(f"sweep: every cell must be a dict of keyword arguments for fn, got {cell!r}")
    return [dict(cell) for cell in cells]


def _plain(value):
    """json.dumps fallback for numpy values and paths."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"cannot write {value!r} (a {type(value).__name__}) as JSON")


def _record_paths(cells: list[dict], folder: Path) -> dict[int, tuple[str, Path]]:
    """For each cell its key (the sorted JSON of its parameters) and its record's path."""
    paths, seen = {}, {}
    for i, cell in enumerate(cells):
        try:
            key = json.dumps(cell, sort_keys=True, default=_plain)
        except (TypeError, ValueError) as err:
            raise TypeError(f"sweep: with out=..., every parameter must be JSON-serializable (numbers, strings, "
                            f"lists, dicts, paths, numpy values) to name its record; cell {cell!r}: {err}") from None
        if key in seen:
            raise ValueError(f"sweep: cells {seen[key]} and {i} are the same ({key}); with out=... each cell "
                             f"must be unique")
        seen[key] = i
        paths[i] = key, folder / f"{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"
    return paths


def _load(path: Path, key: str) -> dict | None:
    """The record at ``path``, or None if there is none (or it is for another key)."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        warnings.warn(f"sweep: cannot read {path} ({err}); its cell runs again", RuntimeWarning, stacklevel=3)
        return None
    return record if isinstance(record, dict) and record.get("key") == key else None


def _write(key_path: tuple[str, Path], cell: dict, record: dict) -> None:
    key, path = key_path
    try:
        text = json.dumps({"key": key, "params": cell, **record}, default=_plain)
    except (TypeError, ValueError) as err:
        raise TypeError(f"sweep: parameter 'fn' must return numbers, strings or lists as metrics; the result of "
                        f"cell {cell!r} cannot be written to {path}: {err}") from None
    atomic_write(path, text + "\n", owner="sweep")


def _collect(cells: list[dict], records: dict[int, dict], out: Path | None) -> Sweep:
    rows, failed = [], []
    for i, cell in enumerate(cells):
        record = records[i]
        tail = {"status": record["status"], "error": record["error"], "seconds": record["seconds"]}
        rows += [{**cell, **metrics, **tail} for metrics in record["rows"]] or [{**cell, **tail}]
        if record["status"] != "ok":
            failed.append({"params": cell, "error": record["error"], "traceback": record["traceback"]})
    return Sweep(rows, failed, list(dict.fromkeys(k for cell in cells for k in cell)), out)


def _describe(params: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in params.items())


def _hashable(value):
    try:
        hash(value)
        return value
    except TypeError:
        return repr(value)


def _number(metric: str, value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"Sweep.table: metric {metric!r} must be a number, got {value!r}") from None
