"""Fuzz tests of the training side (issue 20): optimizers, the Trainer and its callbacks, checkpoints,
schedules, regularization and metrics, models, landscape tools and interop.

Every entry point is called through :func:`fuzzing.attempt` with generated arguments, a mix of valid values
and garbage (``NUMBERS``, ``ANYTHING``, wrong types, missing and broken files): it must either accept them,
and then give finite numbers, or refuse them with a neuroai error that names the owner and the argument.
Models are tiny (a 4 -> 3 linear layer, 8 samples) and runs short (1-2 epochs, 2 optimizer steps).
"""
from __future__ import annotations

import math
import pickle
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

import neuroai as na
import neuroai.landscape as L
from fuzzing import ANYTHING, NUMBERS, assert_finite, attempt, fuzz_settings
from neuroai import training as T
from neuroai.models import MLP, RNNLanguageModel, SpatialTransformer, SpikingClassifier, feedforward_network
from neuroai.models import diehl_cook
from neuroai.models.recurrent import SequenceModel, make_recurrent
from neuroai.optim import OPTIMIZERS, make_optimizer, step_protocol

pytestmark = pytest.mark.usefixtures("one_thread")

N_IN, N_OUT, N = 4, 3, 8


# --------------------------------------------------------------------------- shared tiny problems

def tiny_model(seed: int = 0) -> nn.Linear:
    torch.manual_seed(seed)
    return nn.Linear(N_IN, N_OUT)


def tiny_data(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(N, N_IN, generator=g)
    return x, torch.randint(0, N_OUT, (N,), generator=g), torch.randn(N, N_OUT, generator=g)


X, Y_CLASS, Y_REG = tiny_data()
LOADER = [(X[:4], Y_CLASS[:4]), (X[4:], Y_CLASS[4:])]


def mse(out, target):  # written out: differentiable in every mode of torch.func
    return ((out - target) ** 2).mean()


def small(value, bound: float) -> bool:
    """``value`` is a plain number of at most ``bound`` in magnitude."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) <= bound


#: Wrong iteration counts (steps, epochs, iterations): every kind of wrong value but the huge valid ones, which
#: would only make the call slow (memory-sized counts get NUMBERS, huge values included).
BAD_COUNT = st.one_of(st.sampled_from([0, -1, -2 ** 63, 2.0, 2.5, 1e308, math.nan, math.inf, True, False, "3", None,
                                       np.int64(-3), np.float32(1.5), [2], torch.tensor(2)]),
                      st.integers(-(2 ** 70), 0), st.floats(allow_nan=True), st.text(max_size=3))


def maybe(data, valid, bad=None):
    """A draw from ``valid``, or, at the example's garbage rate (drawn at its first call: never, 1 in 10 or 3 in
    10, so that whole valid calls occur as well as broken ones), from ``bad`` (default: NUMBERS or ANYTHING)."""
    if not hasattr(data, "garbage_rate"):
        data.garbage_rate = data.draw(st.sampled_from([0, 1, 3]), label="garbage rate")
    if data.draw(st.integers(0, 9), label="garbage?") < data.garbage_rate:
        return data.draw(bad if bad is not None else st.one_of(NUMBERS, ANYTHING), label="garbage")
    return data.draw(valid, label="valid")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Paths to throw at loaders: missing, a folder, an empty, a text, a random-bytes file, a pickle of an
    arbitrary object, a torch.save of a tensor, a dict without a Trainer's keys, and a real Trainer checkpoint."""
    root = tmp_path_factory.mktemp("fuzz_training")
    (root / "text.txt").write_text("epoch,loss\n1,0.5\n")
    (root / "empty.pt").write_bytes(b"")
    (root / "random.pt").write_bytes(np.random.default_rng(0).bytes(300))
    (root / "object.pt").write_bytes(pickle.dumps(ValueError("x")))
    torch.save(torch.zeros(3), root / "tensor.pt")
    torch.save({"model": {}}, root / "partial.pt")
    (root / "folder").mkdir()
    model = tiny_model()
    trainer = T.Trainer(model, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1),
                        callbacks=[T.Checkpoint(root / "good.pt")], progress=False, seed=0)
    trainer.fit(LOADER, epochs=1)
    names = ["missing.pt", "folder", "empty.pt", "text.txt", "random.pt", "object.pt", "tensor.pt", "partial.pt",
             "good.pt"]
    return {name: root / name for name in names} | {"root": root}


def path_strategy(files):
    return st.one_of(st.sampled_from(sorted(v for k, v in files.items() if k != "root")),
                     st.sampled_from(sorted(str(v) for k, v in files.items() if k != "root")),
                     ANYTHING)


# --------------------------------------------------------------------------- 1. optimizers

VALID_HYPER = {
    "lr": st.floats(1e-4, 1.0),
    "momentum": st.floats(0, 0.95),
    "dampening": st.floats(0, 1),
    "nesterov": st.booleans(),
    "maximize": st.booleans(),
    "foreach": st.one_of(st.none(), st.booleans()),
    "fused": st.one_of(st.none(), st.booleans()),
    "differentiable": st.booleans(),
    "capturable": st.booleans(),
    "betas": st.tuples(st.floats(0, 0.99), st.floats(0, 0.999)),
    "weight_decay": st.floats(0, 0.1),
    "eps": st.floats(1e-10, 1e-3),
    "amsgrad": st.booleans(),
    "centered": st.booleans(),
    "decoupled_weight_decay": st.booleans(),
    "alpha": st.floats(0, 0.99),
    "rho": st.floats(0, 0.99),
    "lr_decay": st.floats(0, 0.1),
    "initial_accumulator_value": st.floats(0, 1),
    "history_size": st.integers(1, 10),
    "max_iter": st.integers(1, 4),
    "max_eval": st.integers(1, 8),
    "tolerance_grad": st.floats(0, 1e-5),
    "tolerance_change": st.floats(0, 1e-7),
    "line_search_fn": st.sampled_from([None, "strong_wolfe", "armijo"]),
    "c": st.floats(1e-4, 0.4),
    "shrink": st.floats(0.1, 0.9),
    "max_evaluations": st.integers(1, 8),
    "condition": st.sampled_from(["armijo", "goldstein"]),
    "damping": st.floats(0, 1),
    "saddle_free": st.booleans(),
    "line_search": st.booleans(),
    "cg_max_iter": st.integers(1, 4),
    "curvature_eps": st.floats(0, 1e-6),
    "snapshot_every": st.integers(1, 3),
    "temperature": st.floats(0, 1e-2),
    "seed": st.integers(0, 2 ** 32 - 1),
}


@fuzz_settings(200)
@given(data=st.data())
def test_make_optimizer(data):
    # (sparse_adam steps only on the sparse gradients of nn.Embedding(sparse=True): test_optim_registry)
    names = sorted(n for n, spec in OPTIMIZERS.items() if spec.takes != "sparse gradients")
    name = maybe(data, st.sampled_from(names), st.one_of(st.sampled_from(["SGD", "adamm", ""]), ANYTHING))
    model = tiny_model()
    extra = torch.zeros(2, requires_grad=True)  # a bare parameter, fitted to zero by the loss below
    kind = data.draw(st.sampled_from(["model"] * 4 + ["list", "generator", "tensors"] + ["groups"] * 3
                                     + ["empty", "none", "tensor", "bad item", "anything"]), label="params")
    if kind == "model":
        params = model.parameters()
    elif kind == "list":
        params = list(model.parameters())
    elif kind == "generator":
        params = (p for p in model.parameters())
    elif kind == "tensors":
        params = [extra]
    elif kind == "groups":
        option = data.draw(st.sampled_from(sorted(VALID_HYPER)), label="group option")
        params = [{"params": model.weight, "lr": maybe(data, st.floats(1e-4, 1.0))},
                  {"params": [model.bias, extra], option: maybe(data, VALID_HYPER[option])}
                  ][:data.draw(st.integers(1, 2))]
    elif kind == "empty":
        params = []
    elif kind == "none":
        params = None
    elif kind == "tensor":
        params = torch.zeros(3, requires_grad=True)
    elif kind == "bad item":
        params = [model.weight, data.draw(ANYTHING)]
    else:
        params = data.draw(ANYTHING)

    def loss_now():
        return mse(model(X), Y_REG) + (extra ** 2).sum()

    def full_closure():
        model.zero_grad()
        extra.grad = None
        loss = loss_now()
        loss.backward()
        return loss.detach()

    keys = data.draw(st.lists(st.sampled_from(sorted([*VALID_HYPER, "full_closure"])), max_size=4, unique=True),
                     label="keys")
    if isinstance(name, str) and name == "svrg" and data.draw(st.integers(0, 5)) > 0 and "full_closure" not in keys:
        keys.append("full_closure")
    hyper = {k: maybe(data, st.just(full_closure) if k == "full_closure" else VALID_HYPER[k]) for k in keys}
    optimizer = attempt("make_optimizer", make_optimizer, name, params, **hyper)
    if optimizer is None:
        return
    create_graph = step_protocol(optimizer).create_graph

    def closure():
        optimizer.zero_grad()
        loss = loss_now()
        loss.backward(create_graph=create_graph)
        return loss

    for _ in range(2):
        if attempt("optimizer.step", optimizer.step, closure) is None and not math.isfinite(float(loss_now())):
            break
    # within these bounds two steps on a well-conditioned quadratic cannot overflow; a larger learning rate
    # (up to the dtype's maximum, which make_optimizer accepts) legitimately diverges, as gradient descent does
    tame = all(small(group.get(key, 0), 1.0) for group in optimizer.param_groups
               for key in ("lr", "weight_decay", "temperature"))
    if tame:
        assert_finite([p.detach() for p in model.parameters()] + [extra.detach()], f"parameters after {name}")


# --------------------------------------------------------------------------- 2. the Trainer and fit

@fuzz_settings(100)
@given(data=st.data())
def test_trainer_fit(data):
    model = tiny_model()
    other = tiny_model(1)
    optimizer = data.draw(st.sampled_from(["own", "own lbfgs", "own newton", "other", "anything"]), label="opt")
    if optimizer == "own":
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    elif optimizer == "own lbfgs":
        optimizer = make_optimizer("lbfgs", model.parameters(), max_iter=2)
    elif optimizer == "own newton":
        optimizer = make_optimizer("newton", model.parameters())
    elif optimizer == "other":
        optimizer = torch.optim.SGD(other.parameters(), lr=0.1)
    else:
        optimizer = data.draw(ANYTHING)
    loss_fn = maybe(data, st.sampled_from([nn.CrossEntropyLoss(), nn.functional.cross_entropy]),
                    st.one_of(ANYTHING, st.just(lambda out, y: out)))
    options = {}
    for key, valid in [("metrics", st.sampled_from([None, ["accuracy"], {"acc": T.accuracy}, [T.accuracy]])),
                       ("seed", st.one_of(st.none(), st.integers(0, 2 ** 32 - 1))),
                       ("progress", st.just(False)),
                       ("divergence_guard", st.booleans()),
                       ("scheduler_interval", st.sampled_from([None, "epoch", "batch"])),
                       ("device", st.sampled_from([None, "cpu", torch.device("cpu")])),
                       ("callbacks", st.sampled_from([(), [T.DivergenceGuard()], [T.GradientClipping(max_norm=1.0)]])),
                       ("scheduler", st.sampled_from([None, "cosine", "one_cycle"]))]:
        if data.draw(st.booleans(), label=f"give {key}?"):
            options[key] = maybe(data, valid)
    if isinstance(options.get("scheduler"), str) and options["scheduler"] in ("cosine", "one_cycle") \
            and isinstance(optimizer, torch.optim.Optimizer):
        kwargs = {"t_max": 2} if options["scheduler"] == "cosine" else {"max_lr": 0.1, "total_steps": 8}
        options["scheduler"] = T.make_scheduler(options["scheduler"], optimizer, **kwargs)
    options.setdefault("progress", False)
    trainer = attempt("Trainer", T.Trainer, model, loss_fn, optimizer, **options)
    if trainer is None:
        return
    loader = maybe(data, st.sampled_from([LOADER, LOADER[:1]]),
                   st.one_of(st.sampled_from([[], [X], [(X, Y_CLASS, Y_CLASS)], [(X[:, :2], Y_CLASS)], None]),
                             ANYTHING))
    val = data.draw(st.sampled_from([None, LOADER[1:], []]), label="val")
    epochs = maybe(data, st.integers(0, 2), BAD_COUNT)
    history = attempt("Trainer.fit", trainer.fit, loader, val, epochs=epochs)
    if history is not None:
        assert len(history) == epochs
        if options.get("divergence_guard", True):  # divergence_guard=False trains on whatever the numbers become
            assert_finite(history, "history")
            assert_finite([p.detach() for p in model.parameters()], "parameters after fit")


@fuzz_settings(50)
@given(data=st.data())
def test_checkpoints_and_resume(files, data):
    path = data.draw(path_strategy(files), label="path")
    keys = maybe(data, st.sampled_from([(), ("model",), T.trainer.CHECKPOINT_KEYS]),
                 st.one_of(st.just("epoch"), ANYTHING))
    state = attempt("load_checkpoint", T.load_checkpoint, path, keys)
    if state is not None:
        assert isinstance(state, dict)
    model = tiny_model()
    trainer = T.Trainer(model, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1), progress=False)
    epochs = maybe(data, st.integers(0, 2), BAD_COUNT)
    history = attempt("Trainer.fit(resume=...)", trainer.fit, LOADER, epochs=epochs, resume=path)
    if history is not None:
        assert_finite(history, "resumed history")
    attempt("Trainer.load_checkpoint", trainer.load_checkpoint, path)
    target = data.draw(st.one_of(st.sampled_from([files["root"] / "out" / "saved.pt", files["folder"],
                                                  files["text.txt"] / "below.pt"]), ANYTHING), label="save to")
    attempt("save_checkpoint", T.save_checkpoint, maybe(data, st.just({"a": torch.zeros(2)})), target)


# --------------------------------------------------------------------------- callbacks

@fuzz_settings(120)
@given(data=st.data())
def test_callbacks(files, data):
    model = tiny_model()
    kind = data.draw(st.sampled_from(["EarlyStopping", "DivergenceGuard", "GradientClipping", "Checkpoint",
                                      "CSVLogger", "SnapshotEnsemble", "ActivationMonitor", "GradientMonitor"]),
                     label="callback")
    path = st.one_of(st.sampled_from([files["root"] / "cb" / "x.pt", files["folder"],
                                      files["text.txt"] / "below.csv"]), ANYTHING)
    if kind == "EarlyStopping":
        args = dict(monitor=maybe(data, st.sampled_from(["loss", "val_loss", "accuracy"])),
                    patience=maybe(data, st.integers(0, 3)), min_delta=maybe(data, st.floats(0, 1)),
                    mode=maybe(data, st.sampled_from(["min", "max"])),
                    restore_best_weights=maybe(data, st.booleans()))
        make = T.EarlyStopping
    elif kind == "DivergenceGuard":
        args, make = dict(check_parameters=maybe(data, st.booleans())), T.DivergenceGuard
    elif kind == "GradientClipping":
        args = {k: maybe(data, st.floats(0.1, 10)) for k in data.draw(
            st.lists(st.sampled_from(["max_norm", "max_value", "norm_type"]), unique=True, max_size=3))}
        make = T.GradientClipping
    elif kind == "Checkpoint":
        args, make = dict(path=data.draw(path), every=maybe(data, st.integers(1, 3))), T.Checkpoint
    elif kind == "CSVLogger":
        args, make = dict(path=data.draw(path)), T.CSVLogger
    elif kind == "SnapshotEnsemble":
        args = dict(t_0=maybe(data, st.integers(1, 2)), t_mult=maybe(data, st.integers(1, 2)),
                    max_snapshots=maybe(data, st.one_of(st.none(), st.integers(1, 3))),
                    transform=maybe(data, st.sampled_from(["softmax", None, torch.tanh])))
        make = T.SnapshotEnsemble
    elif kind == "ActivationMonitor":
        args = dict(model=maybe(data, st.just(model)),
                    types=maybe(data, st.sampled_from([None, (nn.Linear,), [nn.ReLU]])),
                    margin=maybe(data, st.floats(0, 0.5)))
        make = T.ActivationMonitor
    else:
        args = dict(model=maybe(data, st.just(model)), keep_history=maybe(data, st.booleans()))
        make = T.GradientMonitor
    callback = attempt(kind, make, **args)
    if callback is None:
        return
    trainer = T.Trainer(model, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1),
                        callbacks=[callback], progress=False)
    val = data.draw(st.sampled_from([None, LOADER[1:]]), label="val")
    history = attempt(f"Trainer.fit with {kind}", trainer.fit, LOADER, val, epochs=2)
    if history is not None:
        assert_finite(history, "history")
        if kind == "SnapshotEnsemble" and callback.snapshots:
            assert_finite(attempt("SnapshotEnsemble.predict", callback.predict,
                                  maybe(data, st.just(X), st.sampled_from([X[:, :2], torch.zeros(0, N_IN)]))),
                          "ensemble prediction")
        if kind == "GradientMonitor":
            assert_finite(callback.norms, "gradient norms")


# --------------------------------------------------------------------------- schedules

SCHEDULE_ARGS = {
    "step": {"step_size": st.integers(1, 3), "gamma": st.floats(0.1, 1)},
    "cosine": {"t_max": st.integers(1, 5), "eta_min": st.floats(0, 1e-3)},
    "cosine_warm_restarts": {"t_0": st.integers(1, 3), "t_mult": st.integers(1, 2), "eta_min": st.floats(0, 1e-3)},
    "one_cycle": {"max_lr": st.floats(1e-3, 1), "total_steps": st.integers(2, 8), "pct_start": st.floats(0.1, 0.9),
                  "div_factor": st.floats(1, 30), "final_div_factor": st.floats(1, 1e4),
                  "anneal_strategy": st.sampled_from(["cos", "linear"])},
}


@fuzz_settings(40)
@given(data=st.data())
def test_schedules(data):
    name = maybe(data, st.sampled_from(sorted(SCHEDULE_ARGS)), st.one_of(st.just("linear"), ANYTHING))
    model = tiny_model()
    optimizer = maybe(data, st.just(torch.optim.SGD(model.parameters(), lr=0.1)), ANYTHING)
    spec = SCHEDULE_ARGS.get(name, {}) if isinstance(name, str) else {}
    kwargs = {k: maybe(data, v) for k, v in spec.items() if data.draw(st.integers(0, 4), label=f"omit {k}?")}
    if data.draw(st.integers(0, 6), label="unknown kwarg?") == 0:
        kwargs["warmup"] = 3
    scheduler = attempt("make_scheduler", T.make_scheduler, name, optimizer, **kwargs)
    if scheduler is None:
        return
    rates = []
    for _ in range(2):
        optimizer.step()
        scheduler.step()
        rates.append(optimizer.param_groups[0]["lr"])
    assert_finite(rates, f"{name} learning rates")


# --------------------------------------------------------------------------- regularization and metrics

@fuzz_settings(40)
@given(data=st.data())
def test_regularization_and_metrics(data):
    model = tiny_model()
    target = maybe(data, st.just(model))
    for name, fn in (("l1_penalty", T.l1_penalty), ("l2_penalty", T.l2_penalty)):
        penalty = attempt(name, fn, target, maybe(data, st.floats(0, 10)),
                          include_all=maybe(data, st.booleans()))
        if penalty is not None:
            assert_finite(penalty, name)
    loss = attempt("RegularizedLoss", T.RegularizedLoss,
                   maybe(data, st.just(nn.CrossEntropyLoss())), target, l1=maybe(data, st.floats(0, 1)),
                   l2=maybe(data, st.floats(0, 1)), include_all=maybe(data, st.booleans()))
    if loss is not None:
        value = attempt("RegularizedLoss.forward", loss, model(X), Y_CLASS)
        if value is not None:
            assert_finite(value, "regularized loss")
    output = maybe(data, st.sampled_from([model(X).detach(), model(X)[:, 0].detach(), torch.zeros(N, 1)]),
                   st.one_of(st.sampled_from([torch.zeros(N, 5), torch.zeros(0, N_OUT), torch.zeros(2)]), ANYTHING))
    target_y = maybe(data, st.sampled_from([Y_CLASS, nn.functional.one_hot(Y_CLASS, N_OUT).float(),
                                            torch.ones(N)]),
                     st.one_of(st.sampled_from([Y_CLASS[:3], torch.zeros(N, 2)]), ANYTHING))
    value = attempt("accuracy", T.accuracy, output, target_y)
    if value is not None:
        assert_finite(value, "accuracy")
        assert 0 <= float(value) <= 1
    logs = maybe(data, st.dictionaries(st.sampled_from(["loss", "val_loss", "accuracy", "val_accuracy", "epoch"]),
                                       st.floats(-10, 10), max_size=5),
                 st.one_of(st.dictionaries(st.sampled_from(["loss", "val_loss"]), ANYTHING), ANYTHING))
    gaps = attempt("generalization_gap", T.generalization_gap, logs)
    if gaps is not None and all(small(v, 1e300) for v in logs.values()):  # (NaN in, NaN out)
        assert_finite(gaps, "gaps")
    augmented = attempt("Augmented", T.Augmented, maybe(data, st.just(LOADER)),
                        maybe(data, st.sampled_from([torch.tanh, lambda x: x * 2])))
    if augmented is not None:
        batches = attempt("Augmented iteration", list, augmented)
        if batches is not None:
            assert_finite([b[0] for b in batches], "augmented batches")


# --------------------------------------------------------------------------- 3. models

@fuzz_settings(150)
@given(data=st.data())
def test_models(data):
    kind = data.draw(st.sampled_from(["MLP", "make_recurrent", "SequenceModel", "RNNLanguageModel",
                                      "SpatialTransformer", "SpikingClassifier", "DiehlCook"]), label="model")
    sizes = st.integers(1, 4)
    if kind == "MLP":
        model = attempt("MLP", MLP, maybe(data, st.lists(sizes, min_size=2, max_size=4)),
                        activation=maybe(data, st.sampled_from(["relu", "tanh", "gelu", "identity"])),
                        dropout=maybe(data, st.floats(0, 0.9)), batch_norm=maybe(data, st.booleans()),
                        init=maybe(data, st.sampled_from(["kaiming", "xavier", "orthogonal", "normal", "zeros"])),
                        seed=maybe(data, st.one_of(st.none(), st.integers(0, 100))),
                        bias=maybe(data, st.booleans()))
        if model is not None:
            out = attempt("MLP.forward", model, torch.randn(3, model.sizes[0]))
            assert out is not None and out.shape == (3, model.sizes[-1])
            assert_finite(out, "MLP output")
    elif kind == "make_recurrent":
        cell = maybe(data, st.sampled_from(["rnn", "lstm", "gru", "spiking_rnn", "spiking_lstm"]))
        options = {}
        for key, valid in [("beta", st.floats(0.05, 0.95)), ("threshold", st.floats(0.01, 0.9)),
                           ("learn_beta", st.booleans()), ("learn_threshold", st.booleans()),
                           ("readout", st.sampled_from(["spikes", "trace"])), ("trace_decay", st.floats(0.05, 0.95))]:
            if data.draw(st.integers(0, 3), label=f"give {key}?") == 0:
                options[key] = maybe(data, valid)
        n_in = maybe(data, sizes)
        core = attempt("make_recurrent", make_recurrent, cell, n_in, maybe(data, sizes),
                       maybe(data, st.integers(1, 2)), dropout=maybe(data, st.floats(0, 0.5)),
                       bidirectional=maybe(data, st.booleans()), **options)
        if core is not None:
            out, _ = core(torch.randn(3, 2, int(n_in)))
            assert_finite(out, "recurrent output")
    elif kind == "SequenceModel":
        mode = maybe(data, st.sampled_from(["many_to_one", "many_to_many", "one_to_many"]))
        model = attempt("SequenceModel", SequenceModel, maybe(data, sizes), maybe(data, sizes), maybe(data, sizes),
                        cell=maybe(data, st.sampled_from(["lstm", "gru", "spiking_rnn"])), mode=mode,
                        steps=maybe(data, st.one_of(st.none(), st.integers(1, 3))),
                        init=maybe(data, st.sampled_from(["default", "orthogonal"])),
                        forget_bias=maybe(data, st.floats(-2, 2)),
                        seed=maybe(data, st.one_of(st.none(), st.integers(0, 100))))
        if model is not None:
            x = torch.randn(2, model.input_size) if model.mode == "one_to_many" else torch.randn(3, 2, model.input_size)
            assert_finite(model(x), "sequence model output")
    elif kind == "RNNLanguageModel":
        model = attempt("RNNLanguageModel", RNNLanguageModel, maybe(data, st.integers(2, 6)),
                        embedding=maybe(data, sizes), hidden=maybe(data, sizes), layers=maybe(data, st.integers(1, 2)),
                        cell=maybe(data, st.sampled_from(["lstm", "gru", "rnn", "spiking_rnn"])),
                        dropout=maybe(data, st.floats(0, 0.5)), tie_weights=maybe(data, st.booleans()),
                        init_range=maybe(data, st.floats(0.01, 0.5)),
                        embedding_std=maybe(data, st.one_of(st.none(), st.floats(0.1, 2))),
                        seed=maybe(data, st.one_of(st.none(), st.integers(0, 100))))
        if model is not None:
            tokens = maybe(data, st.just(torch.randint(0, model.vocab_size, (3, 2))),
                           st.sampled_from([torch.zeros(3, 2), torch.zeros(3, dtype=torch.long),
                                            torch.full((3, 2), 99, dtype=torch.long)]))
            out = attempt("RNNLanguageModel.forward", model, tokens)
            if out is not None:
                assert_finite(out[0], "language model logits")
    elif kind == "SpatialTransformer":
        size = maybe(data, st.tuples(st.integers(2, 6), st.integers(2, 6)),
                     st.one_of(st.sampled_from([(4,), (4, 4, 4), "ab", 4]), ANYTHING))
        model = attempt("SpatialTransformer", SpatialTransformer, maybe(data, st.integers(1, 2)), size,
                        maybe(data, st.sampled_from(["affine", "translation", "rotation_scale_translation",
                                                     "attention"])),
                        out_size=maybe(data, st.one_of(st.none(), st.tuples(st.integers(1, 5), st.integers(1, 5)))),
                        hidden=maybe(data, st.integers(1, 8)))
        if model is not None:
            out = model(torch.rand(2, model.in_channels, *model.size))
            assert out.shape == (2, model.in_channels, *model.out_size)
            assert_finite(out, "transformer output")
    elif kind == "SpikingClassifier":
        net = attempt("feedforward_network", feedforward_network, maybe(data, st.lists(sizes, min_size=2, max_size=3)),
                      dt=maybe(data, st.sampled_from([1e-3, 5e-4])), seed=maybe(data, st.integers(0, 100)),
                      gain=maybe(data, st.floats(0.1, 3)))
        if net is None:
            return
        model = attempt("SpikingClassifier", SpikingClassifier, net, maybe(data, st.integers(1, 4)),
                        dtype=maybe(data, st.sampled_from(["float32", "float64", torch.float32])),
                        device=maybe(data, st.sampled_from([None, "cpu"])),
                        seed=maybe(data, st.one_of(st.none(), st.integers(0, 100))))
        if model is not None:
            n_in = net.inputs["input"].n
            images = maybe(data, st.just(torch.rand(2, n_in)),
                           st.sampled_from([torch.rand(2, n_in + 1), torch.rand(n_in), np.zeros((2, n_in))]))
            out = attempt("SpikingClassifier.forward", model, images)
            if out is not None:
                assert_finite(out, "spike counts")
    else:
        fields = {}
        for key, valid in [("n_neurons", st.integers(2, 5)), ("dt", st.sampled_from([0.5e-3, 1e-3])),
                           ("t_on", st.floats(0.01, 0.5)), ("max_rate", st.floats(1, 100)),
                           ("w_init", st.floats(0, 0.5)), ("a_plus", st.floats(0, 0.1)), ("seed", st.integers(0, 9))]:
            if data.draw(st.booleans(), label=f"give {key}?"):
                fields[key] = maybe(data, valid)
        config = attempt("DiehlCook", diehl_cook.DiehlCook, **fields)
        if config is not None:
            net = attempt("diehl_cook.network", diehl_cook.network, config, maybe(data, st.integers(1, 6)),
                          learning=maybe(data, st.booleans()))
            if net is not None:
                assert set(net.populations) == {"exc", "inh"}


# --------------------------------------------------------------------------- 4. landscape

def landscape_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(N_IN, 3), nn.Tanh(), nn.Linear(3, 1)).double()


LX = X.double()
LY = torch.sin(LX.sum(1, keepdim=True))


@fuzz_settings(120)
@given(data=st.data())
def test_landscape_curvature(data):
    model = landscape_model()
    loss_fn = maybe(data, st.just(mse), st.one_of(st.just(lambda out, y: out), ANYTHING))
    batch = maybe(data, st.sampled_from([(LX, LY), [(LX[:4], LY[:4]), (LX[4:], LY[4:])]]),
                  st.one_of(st.sampled_from([[], (LX,), LX, (LX[:0], LY[:0]), (LX[:, :2], LY), [(LX, LY, LY)]]),
                            ANYTHING))
    selection = {}
    if data.draw(st.booleans(), label="params?"):
        selection["params"] = maybe(data, st.sampled_from(["0", "2", ["0.weight"], None]),
                                    st.one_of(st.sampled_from(["nope", ["x"], "", 3]), ANYTHING))
    if data.draw(st.booleans(), label="num_batches?"):
        selection["num_batches"] = maybe(data, st.one_of(st.none(), st.integers(1, 2)))
    which = data.draw(st.sampled_from(["operator", "top_eigenvalues", "hessian_trace", "spectral_density",
                                       "keskar_sharpness", "flatness"]), label="entry")
    seed = maybe(data, st.integers(0, 100), st.one_of(st.just(torch.Generator()), NUMBERS, ANYTHING))
    if which == "operator":
        H = attempt("HessianOperator", L.HessianOperator, model, loss_fn, batch,
                    mode=maybe(data, st.sampled_from(["auto", "forward-over-reverse", "reverse-over-forward"])),
                    **selection)
        if H is not None:
            v = maybe(data, st.just(torch.ones(H.num_params, dtype=torch.float64)),
                      st.one_of(st.sampled_from([torch.ones(H.num_params + 1), torch.ones(2, H.num_params),
                                                 torch.full((H.num_params,), math.nan)]), ANYTHING))
            hv = attempt("HessianOperator.matvec", H.matvec, v)
            if hv is not None:
                assert_finite(hv, "H v")
    elif which == "top_eigenvalues":
        result = attempt("top_eigenvalues", L.top_eigenvalues, model, loss_fn, batch,
                         k=maybe(data, st.integers(1, 3)), method=maybe(data, st.sampled_from(["lanczos", "power"])),
                         which=maybe(data, st.sampled_from(["largest", "magnitude"])),
                         max_iter=maybe(data, st.one_of(st.none(), st.integers(1, 20)), BAD_COUNT),
                         tol=maybe(data, st.floats(1e-8, 1e-2)), seed=seed, **selection)
        if result is not None:
            assert_finite(tuple(result), "eigenpairs")
    elif which == "hessian_trace":
        result = attempt("hessian_trace", L.hessian_trace, model, loss_fn, batch,
                         num_probes=maybe(data, st.integers(1, 8)),
                         probe_batch=maybe(data, st.one_of(st.none(), st.integers(1, 4))), seed=seed, **selection)
        if result is not None:
            assert_finite(result.samples, "trace samples")
            assert_finite(result.trace, "trace")
    elif which == "spectral_density":
        result = attempt("spectral_density", L.spectral_density, model, loss_fn, batch,
                         num_runs=maybe(data, st.integers(1, 3)), num_iter=maybe(data, st.integers(1, 8), BAD_COUNT),
                         num_points=maybe(data, st.integers(1, 50)),
                         sigma=maybe(data, st.one_of(st.none(), st.floats(1e-3, 1))), seed=seed, **selection)
        if result is not None:
            assert_finite((result.grid, result.density, result.nodes, result.weights, result.sigma), "density")
    elif which == "keskar_sharpness":
        result = attempt("keskar_sharpness", L.keskar_sharpness, model, loss_fn, batch,
                         epsilon=maybe(data, st.floats(0, 1e-2)), steps=maybe(data, st.integers(1, 5), BAD_COUNT),
                         step_size=maybe(data, st.one_of(st.none(), st.floats(0.01, 1))),
                         random_start=maybe(data, st.booleans()), seed=seed, **selection)
        if result is not None:
            assert_finite(tuple(result), "sharpness")
    else:
        result = attempt("flatness", L.flatness, model, loss_fn, batch, num_probes=maybe(data, st.integers(1, 6)),
                         seed=seed, **selection)
        if result is not None:
            assert_finite(tuple(result), "flatness")


@fuzz_settings(60)
@given(data=st.data())
def test_landscape_slices(data):
    model = landscape_model()
    batch = maybe(data, st.just((LX, LY)), st.one_of(st.sampled_from([[], (LX,), LX]), ANYTHING))
    grid = st.one_of(st.none(), st.lists(st.floats(-1, 1), min_size=1, max_size=3))
    bad_grid = st.one_of(st.sampled_from([[], [math.nan], "ab", [[1, 2], [3]], torch.zeros(0)]), ANYTHING)
    which = data.draw(st.sampled_from(["random_direction", "loss_slice_1d", "loss_slice_2d", "linear_interpolation"]),
                      label="entry")
    seed = maybe(data, st.integers(0, 100))
    if which == "random_direction":
        d = attempt("random_direction", L.random_direction, maybe(data, st.just(model)),
                    normalization=maybe(data, st.sampled_from(["filter", "layer", None])),
                    ignore_1d=maybe(data, st.booleans()), seed=seed,
                    params=maybe(data, st.sampled_from([None, "0", ["2.weight"]])))
        if d is not None:
            assert_finite(d, "direction")
    elif which == "loss_slice_1d":
        direction = maybe(data, st.sampled_from([None, L.random_direction(model, seed=1)]),
                          st.one_of(st.sampled_from([{}, {"0.weight": torch.zeros(2)}, {"nope": torch.zeros(1)},
                                                     {"0.weight": "x"}]), ANYTHING))
        result = attempt("loss_slice_1d", L.loss_slice_1d, model, maybe(data, st.just(mse)), batch,
                         direction=direction, alphas=maybe(data, grid, bad_grid), seed=seed)
        if result is not None:
            assert_finite(result.losses, "1-d slice")
    elif which == "loss_slice_2d":
        directions = maybe(data, st.sampled_from([None, (L.random_direction(model, seed=1),
                                                         L.random_direction(model, seed=2))]),
                           st.one_of(st.sampled_from([(), ({},), "ab"]), ANYTHING))
        result = attempt("loss_slice_2d", L.loss_slice_2d, model, mse, batch, directions=directions,
                         alphas=maybe(data, grid, bad_grid), betas=maybe(data, grid, bad_grid), seed=seed)
        if result is not None:
            assert_finite(result.losses, "2-d slice")
    else:
        other = maybe(data, st.just(landscape_model()), st.one_of(st.just(nn.Linear(2, 1)), ANYTHING))
        result = attempt("linear_interpolation", L.linear_interpolation, model, other, mse, batch,
                         ts=maybe(data, grid, bad_grid))
        if result is not None:
            assert_finite(result.losses, "interpolation")


@fuzz_settings(100)
@given(data=st.data())
def test_landscape_test_functions(data):
    name = maybe(data, st.sampled_from(sorted(L.BENCHMARK_FUNCTIONS)), st.one_of(st.just("sphere"), ANYTHING))
    function = attempt("benchmark_function", L.benchmark_function, name,
                       maybe(data, st.sampled_from([2, 2, 2, 1, 3])))
    if function is None:
        return
    point = maybe(data, st.lists(st.floats(-2, 2), min_size=function.dim, max_size=function.dim))
    which = data.draw(st.sampled_from(["call", "classify", "critical_points", "trajectory"]), label="entry")
    if which == "call":
        value = attempt("BenchmarkFunction()", function, point)
        if value is not None and float(np.abs(np.asarray(point, dtype=float)).max()) < 1e6:
            assert_finite(value, "function value")  # (beyond, f may overflow to inf, as IEEE arithmetic says)
    elif which == "classify":
        point = attempt("classify", L.classify, function, point, tol=maybe(data, st.floats(0, 1e-3)))
        if point is not None:
            assert_finite([point.point, point.value, point.eigenvalues], "classified point")
    elif which == "critical_points":
        found = attempt("critical_points", L.critical_points, function, maybe(data, st.integers(1, 4)),
                        seed=maybe(data, st.integers(0, 9)),
                        bounds=maybe(data, st.one_of(st.none(), st.just([(-2.0, 2.0)] * function.dim))),
                        tol=maybe(data, st.floats(1e-10, 1e-4)), eigen_tol=maybe(data, st.floats(0, 1e-3)),
                        max_iter=maybe(data, st.integers(1, 5), BAD_COUNT))
        for p in found or ():
            assert_finite([p.point, p.value, p.eigenvalues], "critical point")
    else:
        name = maybe(data, st.sampled_from(["sgd", "adam", "newton", "lbfgs", "bfgs", "langevin"]))
        lr = maybe(data, st.floats(1e-4, 1e-2))
        path = attempt("trajectory", L.trajectory, function,
                       lambda params: make_optimizer(name, params, lr=lr),
                       start=point, steps=maybe(data, st.integers(1, 4), BAD_COUNT), tol=maybe(data, st.floats(0, 1e-3)),
                       dtype=maybe(data, st.sampled_from([torch.float64, torch.float32]),
                                   st.one_of(st.sampled_from([torch.int64, "float64"]), ANYTHING)))
        if path is not None:
            if not path.diverged:
                assert_finite([path.points, path.values, path.grad_norms], "trajectory")
            radius = attempt("escape_time", L.escape_time, path, maybe(data, st.floats(1e-3, 10)),
                             center=maybe(data, st.one_of(st.none(), st.just([0.0] * function.dim))))
            assert radius is None or 0 <= radius <= path.steps


# --------------------------------------------------------------------------- 5. interop

def interop_network() -> na.Network:
    net = na.Network(dt=1e-3)
    net.add_input("inp", 3, na.SpikeArray())
    net.add_population("a", 2, na.LIF(tau_m=10e-3))
    net.connect("inp", "a", weight=0.5)
    net.monitor("a")
    return net


@pytest.fixture(scope="module")
def nir_file(files):
    from neuroai.interop import to_nir
    import nir
    path = files["root"] / "graph.nir"
    nir.write(path, to_nir(interop_network()))
    return path


@pytest.fixture(scope="module")
def simulation_result():
    net = interop_network()
    raster = np.random.default_rng(0).random((20, 3)) < 0.3
    return na.Simulator(net, "torch", seed=0).run(0.02, {"inp": raster})


@fuzz_settings(30)
@given(data=st.data())
def test_nir(files, nir_file, data):
    from neuroai.interop import from_nir, to_nir
    from neuroai.interop.nir import nir_latency
    network = maybe(data, st.just(interop_network()))
    graph = attempt("to_nir", to_nir, network, target=maybe(data, st.sampled_from(["neuroai", "snntorch"])))
    source = data.draw(st.one_of(st.sampled_from(["graph", nir_file, str(nir_file)]), path_strategy(files)),
                       label="graph")
    if isinstance(source, str) and source == "graph":
        source = graph
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = attempt("from_nir", from_nir, source, dt=maybe(data, st.one_of(st.none(), st.just(1e-3))),
                      reset=maybe(data, st.sampled_from(["subtract", "value"])))
        if net is not None:
            assert isinstance(net, na.Network)
        latency = attempt("nir_latency", nir_latency, source)
        if latency is not None:
            assert all(isinstance(v, int) for v in latency.values())


@fuzz_settings(25)
@given(data=st.data())
def test_neo(simulation_result, data):
    from neuroai.interop.neo import raster_from_neo, to_neo
    block = attempt("to_neo", to_neo, maybe(data, st.just(simulation_result)),
                    units=maybe(data, st.one_of(st.none(), st.just({"v": "V"}))),
                    name=maybe(data, st.one_of(st.none(), st.text(max_size=4))))
    trains = block.segments[0].spiketrains if block is not None else None
    spiketrains = maybe(data, st.sampled_from([trains, block.groups[0] if block is not None else None]),
                        st.one_of(st.sampled_from([[], [1, 2], "abc"]), ANYTHING))
    raster = attempt("raster_from_neo", raster_from_neo, spiketrains, maybe(data, st.sampled_from([1e-3, 5e-4])),
                     t_start=maybe(data, st.one_of(st.none(), st.just(0.0))),
                     t_stop=maybe(data, st.one_of(st.none(), st.just(0.02), st.just(0.05))))
    if raster is not None:
        assert raster.dtype == bool and raster.ndim == 2
