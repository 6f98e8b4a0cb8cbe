"""RunRecord: the folder one simulation run writes its results into.

A run of simulation ``NAME`` gets ``<root>/NAME/<timestamp>/`` (root
``runs`` by default) holding

- ``config.json``: every parameter, the seed, and the versions of neuroai,
  torch, brian2, numpy and Python;
- ``metrics.csv``: one row per measurement (a list of dicts);
- ``<figure>.png``: figures;
- ``summary.md``: a title, a Markdown result table and free text.

Every file is written atomically (to a temporary file in the same folder,
then renamed over the target), so an interrupted run never leaves a
half-written file behind.
"""
from __future__ import annotations

import csv
import dataclasses
import glob
import io
import json
import os
import platform
import uuid
from collections.abc import Mapping
from datetime import datetime
from importlib import metadata
from pathlib import Path

import numpy as np

from .. import validation as check

VERSIONED = ("neuroai", "torch", "brian2", "numpy")


def atomic_write(path: str | Path, data: str | bytes, *, owner: str | None = None) -> Path:
    """Write ``data`` (text as UTF-8, or bytes) to ``path`` atomically.

    A file that cannot be written (its folder missing, a folder in its place, no permission) raises
    the ``OSError``, or, when ``owner`` (the caller, e.g. "Sweep.to_csv") is given, a ``ValueError``
    naming it, the path and why."""
    quiet = owner is None
    owner = owner or "atomic_write"
    path = check.file_path(owner, "path", path)
    if not isinstance(data, (str, bytes)):
        raise TypeError(f"{owner}: parameter 'data' must be str or bytes, got {type(data).__name__}")
    if not path.name or path.name in (".", ".."):
        raise ValueError(f"{owner}: parameter 'path' must name a file, got {str(path)!r}")
    raw = data.encode("utf-8") if isinstance(data, str) else data
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        try:
            with open(tmp, "xb") as f:  # a fresh file with the usual permissions
                f.write(raw)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    except (OSError, ValueError) as err:  # (ValueError: a NUL byte in the path)
        if quiet and isinstance(err, OSError):
            raise
        raise ValueError(f"{owner}: parameter 'path' must be a file that can be written, got {str(path)!r} "
                         f"({check._reason(err)})") from err
    _remove_stale(path)
    return path


def _remove_stale(path: Path) -> None:
    """Delete the temporary files of earlier writes of ``path`` whose process is gone (killed mid-write);
    those of live processes, which may be writing now, stay."""
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        pid = tmp.name[len(path.name) + 2:].split(".")[0]
        if pid.isdigit() and not _alive(int(pid)):
            tmp.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # (exists, but another user's; or unknowable: keep its file)
    return True


def versions() -> dict[str, str | None]:
    """Installed versions of neuroai, torch, brian2, numpy (None when
    missing) and Python, read from package metadata without importing them."""
    out: dict[str, str | None] = {}
    for dist in VERSIONED:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    out["python"] = platform.python_version()
    return out


def _rows(owner: str, rows) -> list:
    """``rows`` checked: a list (or tuple) of dicts."""
    if not isinstance(rows, (list, tuple)) or not all(isinstance(row, Mapping) for row in rows):
        raise TypeError(f"{owner}: parameter 'rows' must be a list of dicts (one per row), got {rows!r}"[:300])
    return list(rows)


def markdown_table(rows: list[dict]) -> str:
    """A Markdown table with one column per key (in order of first
    appearance) and one line per row; floats get 4 significant digits."""
    columns = _columns(_rows("markdown_table", rows))
    lines = ["| " + " | ".join(_cell(c) for c in columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(c, "")) for c in columns) + " |")
    return "\n".join(lines)


def _columns(rows: list[dict]) -> list[str]:
    return list(dict.fromkeys(key for row in rows for key in row))


def _cell(value) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|")   # a bare | would split the cell


def _jsonable(value):
    """json.dumps fallback for numpy scalars and arrays, paths and dataclasses."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"RunRecord.write_config: parameter 'parameters' must hold numbers, strings, lists, dicts, "
                    f"numpy values, paths or dataclasses; a {type(value).__name__} cannot be written to config.json")


class RunRecord:
    """The results folder of one run of simulation ``name``.

    The folder ``<root>/<name>/<YYYYmmdd-HHMMSS>`` is created at once; a
    suffix ``-2``, ``-3``, ... keeps two runs started in the same second apart.
    """

    def __init__(self, name: str, root: str | Path = "runs"):
        if not isinstance(name, str) or not name or name in (".", "..") or any(c in name for c in "/\\\0"):
            raise ValueError(f"RunRecord: parameter 'name' must be a simulation name usable as a folder name (no "
                             f"'/', not '.' or '..'), got {name!r}")
        self.name = name
        base = check.writable_folder("RunRecord", "root", check.file_path("RunRecord", "root", root) / name)
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        for k in range(1, 1000):
            path = base / (stamp if k == 1 else f"{stamp}-{k}")
            try:
                path.mkdir()
                break
            except FileExistsError:
                continue
        else:
            raise RuntimeError(f"RunRecord: could not create a fresh folder under {base}")
        self.path = path

    def write_config(self, parameters: dict, seed: int) -> Path:
        """``config.json``: the simulation name, ``seed``, ``parameters`` and
        :func:`versions`."""
        if not isinstance(parameters, Mapping):
            raise TypeError(f"RunRecord.write_config: parameter 'parameters' must be a dict, "
                            f"got {type(parameters).__name__}")
        seed = check.seed("RunRecord.write_config", seed)
        config = {"simulation": self.name, "seed": seed, "parameters": parameters,
                  "versions": versions(), "created": datetime.now().isoformat(timespec="seconds")}
        try:
            text = json.dumps(config, indent=2, default=_jsonable)
        except ValueError as err:   # a circular reference
            raise ValueError(f"RunRecord.write_config: parameter 'parameters' must be a tree of values, not "
                             f"circular ({err})") from None
        except TypeError as err:
            if str(err).startswith("RunRecord"):
                raise
            raise TypeError(f"RunRecord.write_config: parameter 'parameters' must have string keys ({err})") from None
        return atomic_write(self.path / "config.json", text + "\n", owner="RunRecord.write_config")

    def write_metrics(self, rows: list[dict]) -> Path:
        """``metrics.csv``: one line per row, one column per key (missing keys
        left empty)."""
        rows = _rows("RunRecord.write_metrics", rows)
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=_columns(rows), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return atomic_write(self.path / "metrics.csv", buf.getvalue(), owner="RunRecord.write_metrics")

    def save_figure(self, fig, name: str, dpi: int = 150) -> Path:
        """``<name>.png``: a matplotlib figure (PNG output is always rendered
        by matplotlib's Agg backend, so this works without a display)."""
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
        return atomic_write(self.path / f"{name}.png", buf.getvalue(), owner="RunRecord.save_figure")

    def write_summary(self, title: str, rows: list[dict], text: str = "") -> Path:
        """``summary.md``: ``# title``, ``rows`` as a Markdown table, then ``text``."""
        for name, value in (("title", title), ("text", text)):
            if not isinstance(value, str):
                raise TypeError(f"RunRecord.write_summary: parameter '{name}' must be a str, "
                                f"got {type(value).__name__}")
        parts = [f"# {title}", markdown_table(rows)]
        if text:
            parts.append(text.strip())
        return atomic_write(self.path / "summary.md", "\n\n".join(parts) + "\n", owner="RunRecord.write_summary")
