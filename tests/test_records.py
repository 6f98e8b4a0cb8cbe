"""RunRecord: the results folder of a run, written atomically."""
import csv
import json
import os
import subprocess
import sys
from importlib import metadata

import numpy as np
import pytest

import neuroai as na
from neuroai.experiments import RunRecord, atomic_write, markdown_table, versions
from neuroai.experiments import records


def test_atomic_write_text_and_bytes_leave_no_temporary_files(tmp_path):
    atomic_write(tmp_path / "a.txt", "héllo\n")
    atomic_write(tmp_path / "b.bin", b"\x00\x01")
    atomic_write(tmp_path / "a.txt", "replaced")
    assert (tmp_path / "a.txt").read_text(encoding="utf-8") == "replaced"
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.bin"]


def test_atomic_write_that_fails_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "config.json"
    atomic_write(target, "old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(records.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]


def test_atomic_write_gives_the_usual_permissions(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    path = atomic_write(tmp_path / "x.txt", "x")
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_record_folder_is_root_name_timestamp_and_unique(tmp_path):
    a = RunRecord("study", tmp_path)
    b = RunRecord("study", tmp_path)
    assert a.path.parent == b.path.parent == tmp_path / "study"
    assert a.path != b.path and a.path.is_dir() and b.path.is_dir()
    assert len(a.path.name) >= len("20250101-120000") and a.path.name[8] == "-"


def test_config_has_parameters_seed_and_versions(tmp_path):
    rec = RunRecord("study", tmp_path)
    params = {"n": np.int64(800), "rate": np.float64(12.5), "w": np.array([0.1, 0.2]), "name": "exc"}
    config = json.loads(rec.write_config(params, seed=7).read_text())
    assert config["simulation"] == "study" and config["seed"] == 7
    assert config["parameters"] == {"n": 800, "rate": 12.5, "w": [0.1, 0.2], "name": "exc"}
    v = config["versions"]
    assert set(v) == {"neuroai", "torch", "brian2", "numpy", "python"}
    assert v["neuroai"] == na.__version__
    assert v["numpy"] == np.__version__
    assert v["brian2"] == metadata.version("brian2") and v["torch"] == metadata.version("torch")
    assert v["python"].startswith(f"{sys.version_info.major}.{sys.version_info.minor}.")


def test_config_rejects_values_json_cannot_hold(tmp_path):
    with pytest.raises(TypeError, match="config.json"):
        RunRecord("study", tmp_path).write_config({"bad": object()}, seed=0)


def test_versions_do_not_import_heavy_packages():
    code = ("import sys; from neuroai.experiments import versions; v = versions(); "
            "assert v['torch'] and v['brian2']; "
            "assert not {'torch', 'brian2', 'matplotlib'} & set(sys.modules), sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_metrics_csv_round_trips_rows_with_missing_keys(tmp_path):
    rows = [{"backend": "brian2", "spikes": 10, "rate": 1.5}, {"backend": "torch", "spikes": 10, "extra": "x"}]
    path = RunRecord("study", tmp_path).write_metrics(rows)
    with open(path, newline="") as f:
        read = list(csv.DictReader(f))
    assert list(read[0]) == ["backend", "spikes", "rate", "extra"]
    assert read == [{"backend": "brian2", "spikes": "10", "rate": "1.5", "extra": ""},
                    {"backend": "torch", "spikes": "10", "rate": "", "extra": "x"}]


def test_summary_has_title_table_and_text(tmp_path):
    rows = [{"population": "exc", "matched %": 100.0, "rate (Hz)": 14.0812}]
    text = RunRecord("study", tmp_path).write_summary("Parity", rows, "All spikes match.").read_text()
    assert text == ("# Parity\n\n| population | matched % | rate (Hz) |\n|---|---|---|\n"
                    "| exc | 100 | 14.08 |\n\nAll spikes match.\n")


def test_markdown_table_uses_the_union_of_keys():
    assert markdown_table([{"a": 1}, {"b": 2.0}]).splitlines() == ["| a | b |", "|---|---|", "| 1 |  |", "|  | 2 |"]


def test_raster_figure_saves_as_png(tmp_path, small_net):
    from matplotlib.figure import Figure

    from neuroai.plotting import raster

    result = na.Simulator(small_net, "torch", seed=0, dtype="float64").run(0.05)
    fig = Figure()
    ax = raster(fig.subplots(), result, "out")
    (points,) = ax.collections
    np.testing.assert_allclose(points.get_offsets(), np.c_[result.spike_times("out"), result.spike_indices("out")])
    assert ax.get_xlim() == (0.0, result.duration) and ax.get_title().startswith("out (torch): ")
    path = RunRecord("study", tmp_path).save_figure(fig, "raster")
    assert path.name == "raster.png" and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_markdown_table_escapes_pipes():
    assert markdown_table([{"|g|": "a|b"}]).splitlines() == ["| \\|g\\| |", "|---|", "| a\\|b |"]


def test_atomic_write_removes_what_a_killed_write_left_behind(tmp_path):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    dead_pid, live_pid = int(gone.stdout), os.getpid()
    stale = tmp_path / f".ckpt.pt.{dead_pid}.0123abcd.tmp"       # a writer killed mid-write
    busy = tmp_path / f".ckpt.pt.{live_pid}.4567cdef.tmp"        # a writer still at work
    other = tmp_path / f".other.pt.{dead_pid}.89abcdef.tmp"      # another file's
    for f in (stale, busy, other):
        f.write_bytes(b"partial")
    atomic_write(tmp_path / "ckpt.pt", b"complete")
    assert (tmp_path / "ckpt.pt").read_bytes() == b"complete"
    assert not stale.exists() and busy.exists() and other.exists()
