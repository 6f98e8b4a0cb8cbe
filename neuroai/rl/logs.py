"""Where a training run's episodes and updates are logged as it goes: CSV files (:class:`CSVLog`) and
TensorBoard (:class:`TensorBoardLog`), given to a trainer as ``logger=`` (one or a list).

Each trainer calls :meth:`RunLog.start` once, with the environment step it starts from (0, or where a checkpoint
resumed it) and the returns of the episodes before it, then :meth:`RunLog.episode` for each episode that ends and
:meth:`RunLog.update` after each update of the networks, and :meth:`RunLog.close` at the end. A resumed run first
drops what the interrupted one logged beyond its checkpoint, so a log holds each step once, as the uninterrupted
run's would.
"""
from __future__ import annotations

import csv
import io
from collections import deque
from collections.abc import Mapping
from pathlib import Path

from .. import validation as check
from ..training.checkpoint import write_file


class RunLog:
    """What a trainer calls as it runs (see the module docstring); this one records nothing."""

    def start(self, owner: str, env: str, step: int, returns: list[float]) -> None:
        """The run of ``owner`` (e.g. "train_ppo") on ``env`` begins at environment step ``step``, after episodes
        of ``returns`` (those of a resumed run's past)."""

    def episode(self, step: int, episode_return: float) -> None:
        """An episode with return ``episode_return`` ended at environment step ``step``."""

    def update(self, step: int, values: Mapping[str, float]) -> None:
        """The networks were updated at environment step ``step``; ``values``: losses and statistics by name."""

    def close(self) -> None:
        """The run ended: write out what is pending."""


class CSVLog(RunLog):
    """Two CSV files in ``folder``: ``episodes.csv`` (``step, return``: one row per episode) and ``updates.csv``
    (``step`` and one column per value the trainer reports, e.g. PPO's ``policy_loss``, ``value_loss``, ``entropy``,
    ``approx_kl``, ``clip_fraction``, ``learning_rate``, and ``mean_return_100``, the mean return of the last 100
    episodes, nan before the first ends). Rows are appended and flushed as they come; a fresh run starts the files
    anew."""

    def __init__(self, folder: str | Path):
        self.folder = check.file_path("CSVLog", "folder", folder)
        if self.folder.exists() and not self.folder.is_dir():
            raise ValueError(f"CSVLog: parameter 'folder' must name a folder, got {str(self.folder)!r}, which is a "
                             f"file")
        self._files: dict[str, tuple] = {}
        self._returns: deque[float] = deque(maxlen=100)

    def start(self, owner, env, step, returns):
        """Start the files anew (``step`` 0), or keep the rows of steps up to ``step`` (a resumed run)."""
        check.writable_folder("CSVLog", "folder", self.folder)
        self.close()
        self._returns = deque(map(float, returns[-100:]), maxlen=100)
        for name in ("episodes", "updates"):
            path = self.folder / f"{name}.csv"
            kept = _rows_up_to(path, step) if step > 0 else []
            columns = list(kept[0]) if kept else None
            buffer = io.StringIO()
            if columns:
                writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
                writer.writeheader()
                writer.writerows(kept)
            write_file("CSVLog", "folder", path, buffer.getvalue())
            self._files[name] = [path, columns, None]

    def episode(self, step, episode_return):
        self._returns.append(float(episode_return))
        self._write("episodes", {"step": step, "return": float(episode_return)})

    def update(self, step, values):
        self._write("updates", {"step": step, **{k: float(v) for k, v in values.items()},
                                "mean_return_100": _mean(self._returns)})

    def _write(self, name: str, row: dict) -> None:
        path, columns, handle = self._files[name]
        if columns is None:   # (the first row sets the columns)
            columns = list(row)
            handle = path.open("a", newline="")
            csv.DictWriter(handle, fieldnames=columns, lineterminator="\n").writeheader()
        elif handle is None:
            handle = path.open("a", newline="")
        csv.DictWriter(handle, fieldnames=columns, lineterminator="\n", extrasaction="ignore").writerow(row)
        handle.flush()
        self._files[name] = [path, columns, handle]

    def close(self):
        for entry in self._files.values():
            if entry[2] is not None:
                entry[2].close()
                entry[2] = None


def _rows_up_to(path: Path, step: int) -> list[dict]:
    """The complete rows of the CSV file ``path`` whose ``step`` is at most ``step`` (none if no file)."""
    if not path.exists():
        return []
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    kept = []
    for row in rows:
        try:
            complete = None not in row.values() and int(row["step"]) <= step
        except (KeyError, TypeError, ValueError):   # (a row cut short when the run was killed)
            complete = False
        if complete:
            kept.append(row)
    return kept


def _mean(values) -> float:
    return sum(values) / len(values) if values else float("nan")


class TensorBoardLog(RunLog):
    """TensorBoard scalars under ``log_dir``, against the environment step: ``episode/return`` per episode
    and ``train/<name>`` per update (``rollout/mean_return_100`` beside them). A resumed run purges the
    events logged after its checkpoint. Needs the ``tensorboard`` package."""

    def __init__(self, log_dir: str | Path):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as err:
            raise ImportError("TensorBoardLog needs the 'tensorboard' package, which is not installed: "
                              "pip install tensorboard (or use CSVLog)") from err
        self._writer_class = SummaryWriter
        self.log_dir = check.file_path("TensorBoardLog", "log_dir", log_dir)
        self.writer = None
        self._returns: deque[float] = deque(maxlen=100)

    def start(self, owner, env, step, returns):
        self.close()
        check.writable_folder("TensorBoardLog", "log_dir", self.log_dir)
        self.writer = self._writer_class(log_dir=str(self.log_dir), purge_step=step if step > 0 else None)
        self._returns = deque(map(float, returns[-100:]), maxlen=100)

    def episode(self, step, episode_return):
        self._returns.append(float(episode_return))
        self.writer.add_scalar("episode/return", float(episode_return), step)

    def update(self, step, values):
        for name, value in values.items():
            self.writer.add_scalar(f"train/{name}", float(value), step)
        if self._returns:
            self.writer.add_scalar("rollout/mean_return_100", _mean(self._returns), step)
        self.writer.flush()

    def close(self):
        if self.writer is not None:
            self.writer.close()
            self.writer = None


class _Logs(RunLog):
    """Several logs as one."""

    def __init__(self, logs: list[RunLog]):
        self.logs = logs

    def start(self, owner, env, step, returns):
        for log in self.logs:
            log.start(owner, env, step, returns)

    def episode(self, step, episode_return):
        for log in self.logs:
            log.episode(step, episode_return)

    def update(self, step, values):
        for log in self.logs:
            log.update(step, values)

    def close(self):
        for log in self.logs:
            log.close()


def run_logger(owner: str, logger) -> RunLog:
    """``logger`` (None, a :class:`RunLog` or a list of them) as one :class:`RunLog`, checked."""
    if logger is None:
        return RunLog()
    logs = list(logger) if isinstance(logger, (list, tuple)) else [logger]
    bad = [log for log in logs if not isinstance(log, RunLog)]
    if bad:
        raise TypeError(f"{owner}: parameter 'logger' must be a RunLog (CSVLog, TensorBoardLog) or a list of them, "
                        f"got {type(bad[0]).__name__}")
    return _Logs(logs)
