"""Sweeps over grids of parameters: executors, failures, resume, tables."""
import csv
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from neuroai.experiments import Sweep, SweepFailed, grid, sweep


# Worker functions live at module level so that worker processes can load them.

def draw(seed, scale):
    """A deterministic "experiment": a seeded draw, and the pid that ran it."""
    rng = np.random.default_rng(seed)
    return {"value": float(rng.normal() * scale), "pid": os.getpid()}


def curve(seed, steps):
    """Several rows per cell, one per step."""
    return [{"step": s, "loss": 1.0 / (s + 1) + seed} for s in range(steps)]


def fragile(x):
    if x == 2:
        raise ValueError("x=2 is not allowed")
    return {"y": x * 10}


def logged(x, calls):
    """Counts its calls in the folder ``calls``; fails for x == 2, and is
    interrupted at x == 3 while the file ``calls/stop`` exists."""
    calls = Path(calls)
    n = len(list(calls.glob(f"{x}.*")))
    (calls / f"{x}.{n}").touch()
    if x == 3 and (calls / "stop").exists():
        raise KeyboardInterrupt
    if x == 2:
        raise ValueError("two fails")
    return {"y": x * x}


def without_bookkeeping(rows):
    return [{k: v for k, v in row.items() if k not in ("pid", "seconds")} for row in rows]


def test_grid_order_size_and_errors():
    cells = grid(lr=[0.1, 0.01], seed=range(3), model=np.array(["a", "b"]))
    assert len(cells) == 12
    assert cells[:3] == [{"lr": 0.1, "seed": 0, "model": "a"}, {"lr": 0.1, "seed": 0, "model": "b"},
                         {"lr": 0.1, "seed": 1, "model": "a"}]
    assert cells[-1] == {"lr": 0.01, "seed": 2, "model": "b"}
    assert grid(seed=[0, 1, 2]) == grid(seed=[0, 1, 2])
    with pytest.raises(ValueError, match="axis 'seed' is empty"):
        grid(lr=[0.1], seed=[])
    with pytest.raises(TypeError, match=r"axis 'lr' must be a sequence.*write \[0.1\]"):
        grid(lr=0.1)
    with pytest.raises(TypeError, match="axis 'name' must be a sequence"):
        grid(name="abc")
    with pytest.raises(TypeError, match="axis 'seed' must be a sequence"):
        grid(seed={0, 1})
    with pytest.raises(ValueError, match="at least one axis"):
        grid()


def test_serial_and_process_give_identical_rows_and_process_runs_elsewhere():
    cells = grid(scale=[1.0, 2.0], seed=[0, 1, 2])
    serial = sweep(draw, cells, executor="serial", progress=False)
    pooled = sweep(draw, cells, executor="process", workers=2, progress=False)
    assert [row["value"] for row in serial.rows] == [
        float(np.random.default_rng(c["seed"]).normal() * c["scale"]) for c in cells]
    assert without_bookkeeping(pooled.rows) == without_bookkeeping(serial.rows)
    assert {row["pid"] for row in serial.rows} == {os.getpid()}
    assert os.getpid() not in {row["pid"] for row in pooled.rows}
    assert serial.axes == pooled.axes == ["scale", "seed"]
    assert all(row["status"] == "ok" and row["error"] == "" and row["seconds"] >= 0 for row in pooled.rows)
    # a list of dicts gives one row per dict, after the cell's parameters
    rows = sweep(curve, grid(seed=[0, 1], steps=[3]), executor="serial", progress=False).rows
    assert [(r["seed"], r["step"]) for r in rows] == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    assert rows[4]["loss"] == pytest.approx(1.5)


@pytest.mark.parametrize("executor", ["serial", "process"])
def test_a_failing_cell_is_recorded_and_the_others_run(executor, tmp_path):
    with pytest.warns(RuntimeWarning, match=r"1 of 4 cells failed: x=2 \(ValueError: x=2 is not allowed\)"):
        result = sweep(fragile, grid(x=[0, 1, 2, 3]), executor=executor, workers=2, out=tmp_path, progress=False)
    assert [(r["x"], r.get("y"), r["status"]) for r in result.rows] == [
        (0, 0, "ok"), (1, 10, "ok"), (2, None, "failed"), (3, 30, "ok")]
    assert result.rows[2]["error"] == "ValueError: x=2 is not allowed"
    [failure] = result.failed
    assert failure["params"] == {"x": 2}
    assert failure["error"] == "ValueError: x=2 is not allowed"
    assert "in fragile" in failure["traceback"] and "raise ValueError" in failure["traceback"]
    with open(tmp_path / "results.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert list(table[0]) == ["x", "y", "status", "error", "seconds"]
    assert [(r["x"], r["y"], r["status"]) for r in table] == [
        ("0", "0", "ok"), ("1", "10", "ok"), ("2", "", "failed"), ("3", "30", "ok")]
    assert table[2]["error"] == "ValueError: x=2 is not allowed"


def test_interrupted_sweep_resumes_without_rerunning_finished_cells(tmp_path):
    calls, out = tmp_path / "calls", tmp_path / "out"
    calls.mkdir()
    (calls / "stop").touch()
    cells = grid(x=list(range(6)), calls=[calls])
    with pytest.raises(KeyboardInterrupt):
        sweep(logged, cells, out=out, executor="serial", progress=False)
    assert not (out / "results.csv").exists()
    records = [json.loads(p.read_text()) for p in (out / "cells").iterdir()]
    assert sorted((r["params"]["x"], r["status"]) for r in records) == [(0, "ok"), (1, "ok"), (2, "failed")]
    assert not [p for p in (out / "cells").iterdir() if p.suffix != ".json"]   # no temporary files left

    (calls / "stop").unlink()
    with pytest.warns(RuntimeWarning, match="x=2"):
        result = sweep(logged, cells, out=out, executor="serial", progress=True)
    count = {x: len(list(calls.glob(f"{x}.*"))) for x in range(6)}
    assert count == {0: 1, 1: 1, 2: 2, 3: 2, 4: 1, 5: 1}      # finished cells were not called again
    assert [(r["x"], r.get("y"), r["status"]) for r in result.rows] == [
        (0, 0, "ok"), (1, 1, "ok"), (2, None, "failed"), (3, 9, "ok"), (4, 16, "ok"), (5, 25, "ok")]
    with open(out / "results.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert [r["x"] for r in table] == ["0", "1", "2", "3", "4", "5"]
    assert [r["calls"] for r in table] == [str(calls)] * 6

    with pytest.warns(RuntimeWarning, match="x=2"):     # resume=False runs every cell again
        sweep(logged, cells, out=out, executor="serial", resume=False, progress=False)
    assert {x: len(list(calls.glob(f"{x}.*"))) for x in range(6)} == {0: 2, 1: 2, 2: 3, 3: 3, 4: 2, 5: 2}


def test_table_mean_std_and_n_over_seeds():
    rng = np.random.default_rng(7)
    loss = rng.normal(size=(2, 3, 4))                    # lr x width x seed
    lrs, widths = [0.1, 0.01], [8, 16, 32]
    rows = [{"lr": lr, "width": w, "seed": s, "loss": float(loss[a, b, s]), "status": "ok"}
            for a, lr in enumerate(lrs) for b, w in enumerate(widths) for s in range(4)]
    rows.append({"lr": 0.1, "width": 8, "seed": 4, "status": "failed", "error": "ValueError: no"})
    result = Sweep(rows, axes=["lr", "width", "seed"])

    table = result.table("loss")                          # default: by every axis but seed
    assert [(r["lr"], r["width"]) for r in table] == [(lr, w) for lr in lrs for w in widths]
    for r, flat in zip(table, loss.reshape(6, 4)):
        assert r["mean"] == pytest.approx(np.mean(flat))
        assert r["std"] == pytest.approx(np.std(flat, ddof=1))
        assert r["n"] == 4
    by_lr = result.table("loss", by="lr")
    assert [r["n"] for r in by_lr] == [12, 12]
    assert by_lr[1]["mean"] == pytest.approx(loss[1].mean())
    assert by_lr[1]["std"] == pytest.approx(loss[1].std(ddof=1))
    [overall] = result.table("loss", by=[])
    assert overall["n"] == 24 and overall["mean"] == pytest.approx(loss.mean())
    with pytest.raises(ValueError, match="no finished row has metric 'accuracy'"):
        result.table("accuracy")
    with pytest.raises(ValueError, match="column 'depth'"):
        result.table("loss", by="depth")

    ax = result.plot("loss", x="width", hue="lr", ax=Figure().subplots())
    assert len(ax.lines) == 2 and len(ax.collections) == 2          # a line and a band per lr
    np.testing.assert_allclose(ax.lines[1].get_ydata(), loss[1].mean(axis=1))
    np.testing.assert_allclose(ax.lines[0].get_xdata(), widths)
    assert ax.get_xlabel() == "width" and ax.get_ylabel() == "loss"


def test_clear_errors_for_executors_and_arguments(monkeypatch):
    cells = grid(x=[1, 2])
    with pytest.raises(TypeError, match="top level of a module.*lambda"):
        sweep(lambda x: {"y": x}, cells, executor="process", progress=False)

    def local(x):
        return {"y": x}

    with pytest.raises(TypeError, match="cannot be pickled"):
        sweep(local, cells, executor="process", progress=False)
    assert sweep(local, cells, executor="serial", progress=False).rows[1]["y"] == 2

    monkeypatch.setitem(sys.modules, "ray", None)         # as if ray were not installed
    with pytest.raises(ImportError, match=r'pip install "neuroai\[distributed\]"'):
        sweep(fragile, cells, executor="ray", progress=False)
    with pytest.raises(ValueError, match="parameter 'executor' must be one of"):
        sweep(fragile, cells, executor="threads", progress=False)
    with pytest.raises(TypeError, match="list of dicts"):
        sweep(fragile, {"x": 1}, executor="serial", progress=False)
    with pytest.raises(ValueError, match="workers"):
        sweep(fragile, cells, executor="process", workers=0, progress=False)


def test_out_needs_json_parameters_and_unique_cells(tmp_path):
    with pytest.raises(TypeError, match="JSON-serializable"):
        sweep(fragile, [{"x": object()}], out=tmp_path, executor="serial", progress=False)
    with pytest.raises(ValueError, match="cells 0 and 1 are the same"):
        sweep(fragile, [{"x": 1}, {"x": 1}], out=tmp_path, executor="serial", progress=False)


def test_a_sweep_whose_every_cell_failed_raises_naming_the_errors(tmp_path):
    def always_fails(x):
        raise ImportError(f"needs a missing extra (x={x})")

    with pytest.raises(SweepFailed, match=r"2 of 2 cells failed: x=0 \(ImportError: needs a missing extra") as err:
        sweep(always_fails, grid(x=[0, 1]), executor="serial", out=tmp_path)
    assert [f["params"] for f in err.value.sweep.failed] == [{"x": 0}, {"x": 1}]
    assert (tmp_path / "results.csv").is_file()
