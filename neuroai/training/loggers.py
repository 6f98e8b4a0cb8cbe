"""Loggers: the per-epoch history written to a CSV file or to TensorBoard."""
from __future__ import annotations

import csv
import io
from pathlib import Path

from .. import validation as _v
from . import distributed
from .callbacks import Callback
from .checkpoint import file_to_write, write_file


class CSVLogger(Callback):
    """Write the whole history (one row per epoch, one column per metric,
    including the ``gap_*`` generalization-gap columns) to ``path`` at the end
    of every epoch, atomically. The file always matches ``trainer.history``,
    also after a resumed run. Under ``torch.distributed``, rank 0 writes."""

    order = 50

    def __init__(self, path: str | Path):
        self.path = file_to_write("CSVLogger", "path", path)

    def on_epoch_end(self, trainer, epoch, logs):
        """Rewrite ``path`` with all of ``trainer.history`` (columns: every key of any row, in order of first
        appearance), atomically; rank 0 only."""
        if not distributed.is_main():
            return
        rows = trainer.history
        columns = list(dict.fromkeys(k for row in rows for k in row))
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        write_file("CSVLogger", "path", self.path, buf.getvalue())


class TensorBoardLogger(Callback):
    """Log every numeric value of each epoch's row as a TensorBoard scalar
    (tag = metric name, step = epoch) under ``log_dir``. Needs the
    ``tensorboard`` package, imported only when this logger is created.
    Under ``torch.distributed``, rank 0 writes."""

    order = 50

    def __init__(self, log_dir: str | Path):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as err:
            raise ImportError("TensorBoardLogger needs the 'tensorboard' package, which is not installed: "
                              "pip install tensorboard (or use CSVLogger)") from err
        self.log_dir = _v.file_path("TensorBoardLogger", "log_dir", log_dir)
        self.writer = SummaryWriter(log_dir=str(self.log_dir)) if distributed.is_main() else None

    def on_epoch_end(self, trainer, epoch, logs):
        """Add each int or float of ``logs`` but ``epoch`` (booleans skipped) as a scalar at step ``epoch``,
        then flush."""
        if self.writer is None:
            return
        for key, value in logs.items():
            if key != "epoch" and isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(key, value, epoch)
        self.writer.flush()

    def on_train_end(self, trainer):
        """Flush the writer (it stays open)."""
        if self.writer is not None:
            self.writer.flush()
