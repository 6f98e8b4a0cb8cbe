"""Training: a :class:`Trainer` for any ``nn.Module``, callbacks (early
stopping, atomic checkpoints with exact resumption, gradient clipping, a
divergence guard, CSV/TensorBoard logging), learning-rate schedules with
snapshot ensembling, metrics including the generalization gap, regularizers,
per-layer activation and gradient monitors, and data-parallel training
under ``torchrun`` (:mod:`~neuroai.training.distributed`).

>>> trainer = Trainer(model, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1),
...                   metrics=["accuracy"], seed=0,
...                   callbacks=[DivergenceGuard(), EarlyStopping(patience=3),
...                              Checkpoint("runs/x/checkpoint.pt"), CSVLogger("runs/x/metrics.csv")])
>>> history = trainer.fit(train_loader, val_loader, epochs=20)            # doctest: +SKIP
>>> history = trainer.fit(train_loader, val_loader, epochs=20,
...                       resume="runs/x/checkpoint.pt")                  # doctest: +SKIP
"""
from . import distributed, schedules
from .callbacks import Callback, DivergenceGuard, EarlyStopping, GradientClipping, MetricNotLogged, TrainingDiverged
from .checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from .loggers import CSVLogger, TensorBoardLogger
from .metrics import METRICS, accuracy, generalization_gap
from .monitors import ActivationMonitor, GradientMonitor, activation_stats
from .regularization import Augmented, RegularizedLoss, l1_penalty, l2_penalty, penalized_parameters
from .schedules import SCHEDULES, SnapshotEnsemble, make_scheduler
from .trainer import Trainer

__all__ = [
    "Trainer", "distributed", "Callback", "EarlyStopping", "Checkpoint", "GradientClipping", "DivergenceGuard",
    "TrainingDiverged", "MetricNotLogged", "CSVLogger", "TensorBoardLogger", "SnapshotEnsemble", "schedules", "make_scheduler",
    "SCHEDULES", "METRICS", "accuracy", "generalization_gap", "load_checkpoint", "save_checkpoint",
    "Augmented", "RegularizedLoss", "l1_penalty", "l2_penalty", "penalized_parameters",
    "ActivationMonitor", "GradientMonitor", "activation_stats",
]
