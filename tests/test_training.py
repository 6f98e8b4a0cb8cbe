"""neuroai.training: Trainer, callbacks, checkpoints/resume, schedules, metrics."""
import csv
import math
import sys
import types

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from neuroai.training import (CSVLogger, Callback, Checkpoint, DivergenceGuard, EarlyStopping, GradientClipping,
                              SnapshotEnsemble, TensorBoardLogger, Trainer, TrainingDiverged, accuracy,
                              generalization_gap, load_checkpoint, make_scheduler, schedules)
from neuroai.training import checkpoint as checkpoint_module

N_IN, N_CLASSES = 8, 4


def blobs(n, seed, noise=1.0, random_labels=False):
    """Gaussian class clusters in N_IN dimensions (labels shuffled if asked)."""
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(N_CLASSES, N_IN, generator=torch.Generator().manual_seed(123)) * 2.0
    y = torch.randint(0, N_CLASSES, (n,), generator=g)
    x = centers[y] + noise * torch.randn(n, N_IN, generator=g)
    if random_labels:
        y = torch.randint(0, N_CLASSES, (n,), generator=g)
    return x, y


def loaders(batch_size=32, n_train=256, n_val=128, random_val=False, generator=None):
    train = DataLoader(TensorDataset(*blobs(n_train, 1)), batch_size=batch_size, shuffle=True, generator=generator)
    val = DataLoader(TensorDataset(*blobs(n_val, 2, random_labels=random_val)), batch_size=64)
    return train, val


def mlp(seed=0, dropout=0.0, hidden=32):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(N_IN, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, N_CLASSES))


def params(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


class Recorder(Callback):
    """Snapshots of the parameters at the end of every epoch."""

    def __init__(self):
        self.snapshots = {}

    def on_epoch_end(self, trainer, epoch, logs):
        self.snapshots[epoch] = params(trainer.model)


def test_fit_logs_history_metrics_gap_and_progress_bar(capsys):
    train, val = loaders()
    model = mlp()
    trainer = Trainer(model, nn.CrossEntropyLoss(), torch.optim.Adam(model.parameters(), lr=1e-2),
                      metrics=["accuracy"], seed=0, progress=True)
    history = trainer.fit(train, val, epochs=3)
    assert [row["epoch"] for row in history] == [1, 2, 3]
    last = history[-1]
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "gap_loss", "gap_accuracy", "lr"):
        assert key in last and math.isfinite(last[key])
    assert last["val_accuracy"] > 0.8 and history[-1]["loss"] < history[0]["loss"]
    assert last["gap_loss"] == pytest.approx(last["val_loss"] - last["loss"])
    assert last["gap_accuracy"] == pytest.approx(last["val_accuracy"] - last["accuracy"])
    ev = trainer.evaluate(val)
    assert ev["loss"] == pytest.approx(last["val_loss"]) and ev["accuracy"] == pytest.approx(last["val_accuracy"])
    assert model.training  # evaluate restores the mode
    assert "epoch 3/3" in capsys.readouterr().err
    # accuracy itself: class scores and binary logits
    assert float(accuracy(torch.tensor([[2.0, 1.0], [0.0, 3.0]]), torch.tensor([0, 0]))) == 0.5
    assert float(accuracy(torch.tensor([1.0, -1.0, 2.0]), torch.tensor([1.0, 0.0, 0.0]))) == pytest.approx(2 / 3)
    assert generalization_gap({"loss": 1.0, "val_loss": 1.5, "accuracy": 0.9, "val_accuracy": 0.7}) == \
        pytest.approx({"gap_loss": 0.5, "gap_accuracy": -0.2})


def test_early_stopping_restores_best_epoch_weights():
    # validation labels are random: validation loss rises once the model fits the training data
    train, val = loaders(random_val=True)
    model = mlp(hidden=64)
    es, rec = EarlyStopping("val_loss", patience=2), Recorder()
    trainer = Trainer(model, nn.CrossEntropyLoss(), torch.optim.Adam(model.parameters(), lr=3e-2),
                      callbacks=[es, rec], seed=0, progress=False)
    history = trainer.fit(train, val, epochs=40)
    val_losses = [row["val_loss"] for row in history]
    best = min(range(len(val_losses)), key=val_losses.__getitem__) + 1
    assert 0 < es.stopped_epoch < 40 and len(history) == es.stopped_epoch
    assert es.best_epoch == best and es.best == val_losses[best - 1]
    assert es.stopped_epoch == best + 2  # patience 2: stops at the 2nd epoch without improvement
    assert same(params(model), rec.snapshots[best])
    assert not same(params(model), rec.snapshots[es.stopped_epoch])


def _resume_setup(seed_model, callbacks):
    train, val = loaders()
    model = mlp(seed=seed_model, dropout=0.2)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    sched = schedules.cosine(opt, t_max=6, eta_min=1e-4)
    trainer = Trainer(model, nn.CrossEntropyLoss(), opt, scheduler=sched, metrics=["accuracy"],
                      callbacks=callbacks, seed=7, progress=False)
    return trainer, train, val


def ES():
    return EarlyStopping(patience=100, restore_best_weights=False)


class Interrupt(Callback):
    def __init__(self, at_epoch):
        self.at_epoch = at_epoch

    def on_epoch_start(self, trainer, epoch):
        if epoch == self.at_epoch:
            raise KeyboardInterrupt


def test_resumed_run_equals_uninterrupted_run_bit_for_bit(tmp_path, monkeypatch):
    full, train, val = _resume_setup(0, [ES(), Checkpoint(tmp_path / "a.pt")])
    history_full = full.fit(train, val, epochs=6)

    ckpt = tmp_path / "b.pt"
    first, train, val = _resume_setup(0, [ES(), Checkpoint(ckpt), Interrupt(4)])
    with pytest.raises(KeyboardInterrupt):
        first.fit(train, val, epochs=6)
    assert load_checkpoint(ckpt)["epoch"] == 3

    # a fresh process: different initial weights, fresh optimizer and scheduler
    resumed, train, val = _resume_setup(99, [ES(),
                                             Checkpoint(tmp_path / "b2.pt")])
    history_resumed = resumed.fit(train, val, epochs=6, resume=ckpt)
    assert history_resumed == history_full
    assert same(params(resumed.model), params(full.model))
    assert resumed.optimizer.param_groups[0]["lr"] == full.optimizer.param_groups[0]["lr"]
    stopper = [next(cb for cb in t.callbacks if isinstance(cb, EarlyStopping)) for t in (resumed, full)]
    assert stopper[0].best_epoch == stopper[1].best_epoch
    assert load_checkpoint(tmp_path / "b2.pt")["epoch"] == 6
    # the RNG states matter (dropout, shuffling): without them the run differs
    monkeypatch.setattr("neuroai.training.trainer.set_rng_state", lambda state, gens: None)
    other, train, val = _resume_setup(99, [ES(), Checkpoint(tmp_path / "c.pt")])
    other.fit(train, val, epochs=6, resume=ckpt)
    assert not same(params(other.model), params(full.model))


def test_resume_restores_a_seeded_loader_generator(tmp_path):
    def run(epochs, resume=None, seed_model=0):
        train, val = loaders(generator=torch.Generator())
        model = mlp(seed=seed_model)
        trainer = Trainer(model, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1),
                          callbacks=[Checkpoint(tmp_path / f"{epochs}.pt")], seed=3, progress=False)
        if resume is not None:
            trainer.fit(train, val, epochs=epochs, resume=resume)
        else:
            trainer.fit(train, val, epochs=epochs)
        return trainer

    full = run(4)
    run(2)
    resumed = run(4, resume=tmp_path / "2.pt", seed_model=5)
    assert resumed.history == full.history and same(params(resumed.model), params(full.model))


def _nan_at(step):
    base = nn.CrossEntropyLoss()
    calls = {"n": 0}

    def loss(out, y):
        if not torch.is_grad_enabled():  # validation
            return base(out, y)
        calls["n"] += 1
        value = base(out, y)
        return value * float("nan") if calls["n"] == step else value
    return loss


def test_divergence_guard_names_epoch_and_step_and_keeps_last_good_checkpoint(tmp_path):
    train, val = loaders()  # 8 batches per epoch: call 20 is epoch 3, step 3
    model = mlp()
    rec, ckpt = Recorder(), tmp_path / "ckpt.pt"
    trainer = Trainer(model, _nan_at(20), torch.optim.SGD(model.parameters(), lr=0.1),
                      callbacks=[Checkpoint(ckpt), DivergenceGuard(), rec], seed=0, progress=False)
    with pytest.raises(TrainingDiverged, match=r"epoch 3, step 3 \(global step 19\)") as err:
        trainer.fit(train, val, epochs=5)
    assert (err.value.epoch, err.value.step) == (3, 3)
    state = load_checkpoint(ckpt)
    assert state["epoch"] == 2
    assert all(torch.isfinite(v).all() for v in state["model"].values())
    assert same(state["model"], rec.snapshots[2])
    assert all(torch.isfinite(p).all() for p in model.parameters())  # no step was taken with the NaN loss


def test_divergence_guard_catches_an_absurd_learning_rate(tmp_path):
    class Explode(Callback):
        def on_epoch_start(self, trainer, epoch):
            if epoch == 3:
                for group in trainer.optimizer.param_groups:
                    group["lr"] = 1e30

    train, val = loaders()
    model = mlp()
    ckpt = tmp_path / "ckpt.pt"
    trainer = Trainer(model, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1),
                      callbacks=[Explode(), DivergenceGuard(), Checkpoint(ckpt)], seed=0, progress=False)
    with pytest.raises(TrainingDiverged, match="epoch 3") as err:
        trainer.fit(train, val, epochs=5)
    assert err.value.epoch == 3
    state = load_checkpoint(ckpt)
    assert state["epoch"] == 2 and all(torch.isfinite(v).all() for v in state["model"].values())


def _grad_norms(clip):
    train, _ = loaders()
    model = mlp()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(5.0)  # large weights, large gradients
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    norms, maxabs = [], []

    def hook(optimizer, args, kwargs):  # after clipping, at the optimizer step
        grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        norms.append(float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))))
        maxabs.append(max(float(g.abs().max()) for g in grads))

    opt.register_step_pre_hook(hook)
    Trainer(model, nn.CrossEntropyLoss(), opt, callbacks=[clip] if clip else [], seed=0,
            progress=False).fit(train, epochs=2)
    return norms, maxabs


def test_gradient_clipping_by_norm_and_by_value():
    norms, maxabs = _grad_norms(None)
    assert min(norms) > 1.0 and max(maxabs) > 0.05
    clipped, _ = _grad_norms(GradientClipping(max_norm=1.0))
    assert len(clipped) == 16 and max(clipped) <= 1.0 + 1e-5
    _, clipped_abs = _grad_norms(GradientClipping(max_value=0.05))
    assert max(clipped_abs) <= 0.05 + 1e-7


def _lrs(scheduler, optimizer, n):
    out = []
    for _ in range(n):
        out.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return out


def _opt(lr=0.1):
    return torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=lr)


def test_schedules_follow_their_formulas():
    opt = _opt()
    assert _lrs(schedules.step(opt, step_size=3, gamma=0.5), opt, 10) == \
        pytest.approx([0.1 * 0.5 ** (t // 3) for t in range(10)])
    opt = _opt()
    assert _lrs(make_scheduler("cosine", opt, t_max=10, eta_min=0.01), opt, 11) == \
        pytest.approx([0.01 + 0.09 * (1 + math.cos(math.pi * t / 10)) / 2 for t in range(11)])
    opt = _opt()
    expected, t_i, t_cur = [], 2, 0
    for _ in range(14):  # cycles of 2, 4, 8 steps
        expected.append(0.001 + 0.099 * (1 + math.cos(math.pi * t_cur / t_i)) / 2)
        t_cur += 1
        if t_cur == t_i:
            t_cur, t_i = 0, t_i * 2
    assert _lrs(schedules.cosine_warm_restarts(opt, t_0=2, t_mult=2, eta_min=0.001), opt, 14) == \
        pytest.approx(expected)
    opt = _opt()
    total, max_lr = 20, 1.0
    lo, up = max_lr / 25, 0.3 * total - 1
    end = lo / 1e4

    def anneal(a, b, pct):
        return b + (a - b) / 2 * (1 + math.cos(math.pi * pct))
    expected = [anneal(lo, max_lr, t / up) if t <= up else anneal(max_lr, end, (t - up) / (total - 1 - up))
                for t in range(total)]
    assert _lrs(schedules.one_cycle(opt, max_lr=max_lr, total_steps=total), opt, total) == pytest.approx(expected)


def test_trainer_steps_epoch_and_batch_schedules():
    train, _ = loaders()
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.2)
    history = Trainer(model, nn.CrossEntropyLoss(), opt, scheduler=schedules.step(opt, 2, 0.1), seed=0,
                      progress=False).fit(train, epochs=5)
    assert [row["lr"] for row in history] == pytest.approx([0.2, 0.2, 0.02, 0.02, 0.002])

    class BatchLR(Callback):
        lrs = []

        def on_batch_start(self, trainer, batch):
            self.lrs.append(trainer.optimizer.param_groups[0]["lr"])

    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = schedules.one_cycle(opt, max_lr=0.5, total_steps=16)
    Trainer(model, nn.CrossEntropyLoss(), opt, scheduler=sched, callbacks=[BatchLR()], seed=0,
            progress=False).fit(train, epochs=2)
    opt2 = _opt()
    assert BatchLR.lrs == pytest.approx(_lrs(schedules.one_cycle(opt2, max_lr=0.5, total_steps=16), opt2, 16))


def test_snapshot_ensemble_averages_cycle_end_snapshots():
    train, val = loaders()
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.2)
    ens, ens2, rec = SnapshotEnsemble(t_0=2), SnapshotEnsemble(t_0=2, max_snapshots=2), Recorder()
    Trainer(model, nn.CrossEntropyLoss(), opt, scheduler=schedules.cosine_warm_restarts(opt, t_0=2),
            callbacks=[ens, ens2, rec], seed=0, progress=False).fit(train, epochs=7)
    assert ens.snapshot_epochs == [2, 4, 6] and ens2.snapshot_epochs == [4, 6]
    for epoch, snap in zip(ens.snapshot_epochs, ens.snapshots):
        assert same(snap, rec.snapshots[epoch])
    x = val.dataset.tensors[0]
    before = params(model)
    singles = []
    for snap in ens.snapshots:
        probe = mlp()
        probe.load_state_dict(snap)
        with torch.no_grad():
            singles.append(torch.softmax(probe(x), dim=-1))
    mean = ens.predict(x)
    assert torch.allclose(mean, sum(singles) / 3, atol=1e-6)
    assert torch.allclose(ens2.predict(x), (singles[1] + singles[2]) / 2, atol=1e-6)
    assert all(not torch.allclose(mean, s, atol=1e-4) for s in singles)
    assert same(params(model), before)  # prediction leaves the model untouched
    with pytest.raises(RuntimeError, match="no snapshots"):
        SnapshotEnsemble(t_0=2).predict(x, model)


def test_csv_logger_one_row_per_epoch_with_gap_columns(tmp_path):
    train, val = loaders()
    model = mlp()
    path = tmp_path / "logs" / "metrics.csv"
    history = Trainer(model, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1),
                      metrics=["accuracy"], callbacks=[CSVLogger(path)], seed=0, progress=False).fit(train, val, 4)
    with open(path) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4 and [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    for row, hist in zip(rows, history):
        assert float(row["gap_loss"]) == pytest.approx(float(row["val_loss"]) - float(row["loss"]))
        assert float(row["gap_accuracy"]) == pytest.approx(float(row["val_accuracy"]) - float(row["accuracy"]))
        assert float(row["val_loss"]) == hist["val_loss"]
    assert not [p for p in path.parent.iterdir() if p.name != "metrics.csv"]  # no temporary files left


def test_tensorboard_logger_lazy_import(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(ImportError, match="pip install tensorboard"):
        TensorBoardLogger(tmp_path)
    scalars = []

    class FakeWriter:
        def __init__(self, log_dir):
            self.log_dir = log_dir

        def add_scalar(self, tag, value, step):
            scalars.append((tag, value, step))

        def flush(self):
            pass

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", types.SimpleNamespace(SummaryWriter=FakeWriter))
    train, val = loaders()
    model = mlp()
    Trainer(model, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1),
            callbacks=[TensorBoardLogger(tmp_path)], seed=0, progress=False).fit(train, val, 2)
    assert {(t, s) for t, _, s in scalars} >= {("loss", 1), ("val_loss", 2), ("gap_loss", 2), ("lr", 1)}


def test_lbfgs_gets_a_closure():
    train, _ = loaders(batch_size=256)
    model = mlp()
    opt = torch.optim.LBFGS(model.parameters(), lr=0.5, max_iter=5)
    history = Trainer(model, nn.CrossEntropyLoss(), opt, seed=0, progress=False).fit(train, epochs=3)
    assert history[-1]["loss"] < 0.5 * history[0]["loss"]


def test_bad_arguments_raise_clear_errors(tmp_path):
    train, val = loaders()
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    trainer = Trainer(model, nn.CrossEntropyLoss(), opt, progress=False)
    with pytest.raises(ValueError, match="'epochs' must be >= 0"):
        trainer.fit(train, epochs=-1)
    with pytest.raises(ValueError, match="'patience' must be >= 0"):
        EarlyStopping(patience=-1)
    with pytest.raises(ValueError, match="'mode' must be one of"):
        EarlyStopping(mode="sideways")
    with pytest.raises(ValueError, match="min_delta"):
        EarlyStopping(min_delta=-0.1)
    with pytest.raises(ValueError, match="exactly one"):
        GradientClipping()
    with pytest.raises(ValueError, match="exactly one"):
        GradientClipping(max_norm=1.0, max_value=1.0)
    with pytest.raises(ValueError, match="unknown schedule 'bogus'"):
        make_scheduler("bogus", opt)
    with pytest.raises(ValueError, match=r"warm-up exactly one step \(pct_start \* total_steps = 1\)"):
        make_scheduler("one_cycle", opt, max_lr=1.0, total_steps=4, pct_start=0.25)  # torch: 0 / 0
    with pytest.raises(ValueError, match="unknown metric 'bogus'"):
        Trainer(model, nn.CrossEntropyLoss(), opt, metrics=["bogus"])
    with pytest.raises(ValueError, match="scheduler_interval"):
        Trainer(model, nn.CrossEntropyLoss(), opt, scheduler_interval="hourly")
    with pytest.raises(ValueError, match="device"):
        Trainer(model, nn.CrossEntropyLoss(), opt, device="nonsense")
    with pytest.raises(TypeError, match="nn.Module"):
        Trainer("model", nn.CrossEntropyLoss(), opt)
    with pytest.raises(TypeError, match="Optimizer"):
        Trainer(model, nn.CrossEntropyLoss(), "sgd")
    with pytest.raises(ValueError, match="'t_max' must be >= 1"):
        schedules.cosine(opt, t_max=0)
    with pytest.raises(KeyError, match="'val_loss' is not logged"):
        Trainer(model, nn.CrossEntropyLoss(), opt, callbacks=[EarlyStopping()], progress=False).fit(train, epochs=1)
    with pytest.raises(FileNotFoundError, match="Trainer.fit: no such file"):
        trainer.fit(train, epochs=2, resume=tmp_path / "missing.pt")
    assert checkpoint_module.Checkpoint(tmp_path / "x.pt").every == 1
    with pytest.raises(ValueError, match="'optimizer' holds none of the model's parameters"):
        Trainer(model, nn.CrossEntropyLoss(), torch.optim.SGD(mlp().parameters(), lr=0.1))
    with pytest.raises(TypeError, match="'progress' must be True or False, got 'yes'"):
        Trainer(model, nn.CrossEntropyLoss(), opt, progress="yes")


def test_divergence_guard_is_on_by_default():
    train, _ = loaders()
    model = mlp()
    trainer = Trainer(model, _nan_at(3), torch.optim.SGD(model.parameters(), lr=0.1), progress=False)
    with pytest.raises(TrainingDiverged, match="non-finite loss"):
        trainer.fit(train, epochs=1)
    assert all(torch.isfinite(p).all() for p in model.parameters())
    unguarded = Trainer(model, _nan_at(3), torch.optim.SGD(model.parameters(), lr=0.1), progress=False,
                        divergence_guard=False)
    unguarded.fit(train, epochs=1)  # trains on, as asked
    assert not all(torch.isfinite(p).all() for p in model.parameters())
