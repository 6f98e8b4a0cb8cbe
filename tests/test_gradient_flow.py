"""Per-layer activation/gradient monitors, and the initialization / gradient-flow study run quick."""
import csv
import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from neuroai import cli
from neuroai.models.mlp import MLP
from neuroai.training import GradientClipping, Trainer
from neuroai.training.monitors import ActivationMonitor, GradientMonitor


def small_mlp():
    return MLP([5, 7, 6, 3], "tanh", init="xavier", seed=3)


def test_activation_monitor_matches_a_manual_forward_pass():
    model = small_mlp()
    x = torch.randn(11, 5, generator=torch.Generator().manual_seed(0)) * 3
    mon = ActivationMonitor(model)
    model(x)
    rows = mon.rows()
    # Linear, Tanh, Linear, Tanh, Linear: one entry per module, in network order
    assert [r["kind"] for r in rows] == ["Linear", "Tanh", "Linear", "Tanh", "Linear"]
    assert [r["name"] for r in rows] == [f"layers.{i}" for i in range(5)]
    h, outputs = x, []
    with torch.no_grad():
        for layer in model.layers:
            h = layer(h)
            outputs.append(h.double())
    for r, out in zip(rows, outputs):
        assert r["mean"] == pytest.approx(float(out.mean()), rel=1e-6, abs=1e-9)
        assert r["std"] == pytest.approx(float(out.std(unbiased=False)), rel=1e-6)
        assert r["frac_zero"] == pytest.approx(float((out == 0).double().mean()))
    for r, out in zip(rows[1:4:2], outputs[1:4:2]):
        assert r["frac_saturated"] == pytest.approx(float((out.abs() >= 0.99).double().mean()))
    assert rows[1]["frac_saturated"] > 0  # inputs of std 3 saturate some tanh units
    assert math.isnan(rows[0]["frac_saturated"])
    assert [r["kind"] for r in mon.rows("Tanh")] == ["Tanh", "Tanh"]
    # dead relu units are counted; hooks go away with remove()
    relu = MLP([4, 8, 2], "relu", seed=0)
    relu_mon = ActivationMonitor(relu, types=(nn.ReLU,))
    xr = torch.randn(9, 4)
    relu(xr)
    pre = relu.layers[0](xr)
    assert relu_mon.rows()[0]["frac_zero"] == pytest.approx(float((pre <= 0).double().mean()))
    relu_mon.remove()
    relu_mon.clear()
    relu(xr)
    assert relu_mon.rows() == []


def test_gradient_monitor_matches_parameter_grads_and_sees_unclipped_norms():
    model = small_mlp()
    x, y = torch.randn(8, 5), torch.randint(0, 3, (8,))
    mon = GradientMonitor(model)
    nn.functional.cross_entropy(model(x), y).backward()
    norms = mon.collect()
    expected = {n: float(p.grad.double().norm()) for n, p in model.named_parameters()}
    assert norms.keys() == expected.keys() and len(norms) == 6
    for n in expected:
        assert norms[n] == pytest.approx(expected[n], rel=1e-6)
    assert mon.layer_norms() == pytest.approx([expected[f"layers.{i}.weight"] for i in (0, 2, 4)])
    assert mon.total == pytest.approx(math.sqrt(sum(v ** 2 for v in expected.values())))
    # as a callback it runs before clipping: it records the unclipped total norm
    model = MLP([5, 7, 3], "relu", init="normal", seed=0)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 3.0)
    mon, clip = GradientMonitor(model), GradientClipping(max_norm=1e-3)
    data = [(torch.randn(16, 5), torch.randint(0, 3, (16,))) for _ in range(3)]
    Trainer(model, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.0), callbacks=[clip, mon],
            progress=False, device="cpu").fit(data, epochs=1)
    assert len(mon.history) == 3
    assert mon.history[-1]["total"] == pytest.approx(clip.last_norm, rel=1e-5)
    assert mon.history[-1]["total"] > 1e-3


def test_activation_monitor_as_callback_keeps_one_training_snapshot_per_epoch():
    model = MLP([5, 6, 3], "relu", seed=0)
    mon = ActivationMonitor(model)
    data = [(torch.randn(4, 5), torch.randint(0, 3, (4,))) for _ in range(2)]
    Trainer(model, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1), callbacks=[mon],
            progress=False, device="cpu").fit(data, data[:1], epochs=2)
    assert [h["epoch"] for h in mon.history] == [1, 2]
    assert len(mon.history[0]["rows"]) == 3


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    module = cli.load("init_gradient_flow")
    record, metrics = cli.execute("init_gradient_flow", module.run, quick=True, seed=0,
                                  out=tmp_path_factory.mktemp("runs"))
    return record.path, metrics


def test_study_writes_its_record(study):
    path, m = study
    for f in ("config.json", "metrics.csv", "summary.md", "gradient_flow.png"):
        assert (path / f).stat().st_size > 0, f
    assert json.loads((path / "config.json").read_text())["parameters"]["quick"] is True
    with open(path / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert sum(r["table"] == "layer" for r in rows) == 2 * 6 * m["depth"]
    for act in ("relu", "tanh"):
        for init, stds in m["act_std"][act].items():
            assert len(stds) == m["depth"] and len(m["grad_norm"][act][init]) == m["depth"], (act, init)


def test_kaiming_keeps_the_signal_while_small_normal_vanishes_and_large_normal_explodes(study):
    _, m = study
    kaiming = np.array(m["act_std"]["relu"]["kaiming"])
    assert kaiming.max() / kaiming.min() < 10          # within an order of magnitude over 20 layers
    for act in ("relu", "tanh"):
        small = m["act_std"][act]["small normal"]
        assert small[-1] / small[0] < 1e-6, act        # collapses by many orders of magnitude
        assert max(m["grad_norm"][act]["small normal"]) < 1e-10, act
        assert max(m["act_std"][act]["zeros"]) == 0 and max(m["grad_norm"][act]["zeros"]) == 0
    big = m["act_std"]["relu"]["large normal"]
    assert big[-1] / big[0] > 1e3 and np.all(np.diff(big) > 0)   # grows layer after layer
    assert m["grad_norm"]["relu"]["large normal"][0] > 1e6
    # Glorot's gain 1 halves a relu layer's variance: decays, but slower than small normal
    xavier = m["act_std"]["relu"]["xavier"]
    assert 1e-5 < xavier[-1] / xavier[0] < 1e-1
    # tanh with large weights saturates instead of exploding, and its gradients grow towards the input
    assert m["frac_saturated"]["tanh"]["large normal"][-1] > 0.3
    g = m["grad_norm"]["tanh"]["large normal"]
    assert g[0] / g[-1] > 100
    # only a good initialization trains
    assert m["final_loss"]["relu"]["kaiming"] < 2.1
    assert m["final_loss"]["relu"]["small normal"] == pytest.approx(math.log(10), abs=0.01)
    assert m["final_loss"]["tanh"]["orthogonal"] < 1.0


def test_clipping_keeps_the_exploding_case_finite_and_lowers_its_loss(study):
    _, m = study
    c = m["clipping"]
    assert not math.isfinite(c["without"][-1])
    assert all(math.isfinite(v) for v in c["with"])
    assert c["with"][-1] < c["initial_loss"] / 10
