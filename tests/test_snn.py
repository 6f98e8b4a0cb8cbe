"""Feedforward spiking networks trained by surrogate gradients, and the torch
rate encoders that feed them."""
import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import neuroai as na
from neuroai.backends import torch_coding
from neuroai.backends.torch import TorchNetwork
from neuroai.data import digits_train_test
from neuroai.models import SpikingClassifier, feedforward_network
from neuroai.training import Trainer


# ------------------------------------------------------------------ torch_coding
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("max_rate, dt", [(100.0, 1e-3), (1000.0, 1e-3), (333.0, 1e-4)])
def test_regular_rate_equals_the_numpy_encoder(dtype, max_rate, dt):
    values = torch.rand(5, 64, generator=torch.Generator().manual_seed(1), dtype=dtype)
    values[0, :3] = torch.tensor([0.0, 1.0, 0.5], dtype=dtype)
    enc = na.RegularRate(max_rate=max_rate)
    spikes = torch_coding.encode(enc, values, 400, dt)
    assert spikes.shape == (400, 5, 64) and spikes.dtype == dtype
    expected = enc.encode(values.numpy(), 400, dt)
    np.testing.assert_array_equal(spikes.numpy(), expected.astype(np.float64))
    assert spikes.sum() > 0


def test_poisson_rate_statistics_and_seeding():
    values = torch.tensor([[0.0, 0.25, 0.5, 1.0]], dtype=torch.float64)
    enc = na.PoissonRate(max_rate=200.0)
    spikes = torch_coding.encode(enc, values, 20000, 1e-3, torch.Generator().manual_seed(0))
    assert spikes.shape == (20000, 1, 4) and spikes.dtype == torch.float64
    assert set(spikes.unique().tolist()) == {0.0, 1.0}
    rate = spikes.mean(0)[0].numpy() / 1e-3
    # binomial standard error of a 200 Hz rate over 20 s is ~2.8 Hz
    np.testing.assert_allclose(rate, [0.0, 50.0, 100.0, 200.0], atol=10.0)
    again = torch_coding.encode(enc, values, 20000, 1e-3, torch.Generator().manual_seed(0))
    other = torch_coding.encode(enc, values, 20000, 1e-3, torch.Generator().manual_seed(1))
    assert torch.equal(spikes, again) and not torch.equal(spikes, other)
    # the global generator is used without one
    torch.manual_seed(3)
    a = torch_coding.encode(enc, values, 100, 1e-3)
    torch.manual_seed(3)
    assert torch.equal(a, torch_coding.encode(enc, values, 100, 1e-3))


@pytest.mark.parametrize("encoder", [na.PoissonRate(100.0), na.RegularRate(100.0)])
def test_encode_errors_match_the_numpy_encoders(encoder):
    name = type(encoder).__name__
    for bad in ([[0.5, 1.5]], [[-0.1, 0.5]], [[float("nan"), 0.5]]):
        with pytest.raises(ValueError, match=rf"{name}: stimulus values must lie in \[0, 1\]"):
            torch_coding.encode(encoder, torch.tensor(bad), 10, 1e-3)
        with pytest.raises(ValueError, match=rf"{name}: stimulus values must lie in \[0, 1\]"):
            encoder.encode(np.array(bad), 10, 1e-3, np.random.default_rng(0))
    with pytest.raises(ValueError, match=rf"{name}: max_rate \* dt = 2.0 exceeds 1 spike per step"):
        torch_coding.encode(encoder, torch.ones(2, 3), 10, 0.02)


def test_encode_rejects_other_encoders_and_non_tensors():
    with pytest.raises(TypeError, match=r"must be one of \['PoissonRate', 'RegularRate'\], got Latency"):
        torch_coding.encode(na.Latency(), torch.ones(1, 3), 10, 1e-3)
    with pytest.raises(TypeError, match="floating torch.Tensor, got ndarray"):
        torch_coding.encode(na.RegularRate(), np.ones((1, 3)), 10, 1e-3)
    with pytest.raises(ValueError, match="'steps' must be an integer >= 1, got 0"):
        torch_coding.encode(na.RegularRate(), torch.ones(1, 3), 0, 1e-3)


# ------------------------------------------------------------------ feedforward_network
def test_feedforward_network_layout_and_seeded_init():
    net = feedforward_network([64, 30, 20, 10], seed=5)
    assert list(net.inputs) == ["input"] and net.size("input") == 64
    assert list(net.populations) == ["hidden1", "hidden2", "output"]
    assert [net.size(p) for p in net.populations] == [30, 20, 10]
    assert list(net.projections) == ["input_to_hidden1", "hidden1_to_hidden2", "hidden2_to_output"]
    assert {m.key for m in net.monitors} == {"input.spikes", "hidden1.spikes", "hidden2.spikes", "output.spikes"}
    model = net.populations["hidden1"].model
    assert (model.reset, model.v_th, model.tau_m) == ("subtract", 1.0, 20e-3)
    assert isinstance(net.inputs["input"].encoder, na.PoissonRate) and net.dt == 1e-3
    for proj, fan_in in zip(net.projections.values(), (64, 30, 20)):
        assert proj.sign is None and proj.n_synapses == fan_in * net.size(proj.post)
        assert abs(proj.weights.std() * np.sqrt(fan_in) - 1.0) < 0.1 and (proj.weights < 0).any()
    same, other = feedforward_network([64, 30, 20, 10], seed=5), feedforward_network([64, 30, 20, 10], seed=6)
    for name, proj in net.projections.items():
        np.testing.assert_array_equal(proj.weights, same.projections[name].weights)
        assert not np.array_equal(proj.weights, other.projections[name].weights)
    w = net.projections  # each layer draws from its own seed: no two share standardized values
    assert not np.allclose(w["hidden1_to_hidden2"].weights[:200] * np.sqrt(30),
                           w["hidden2_to_output"].weights * np.sqrt(20))


def test_feedforward_network_takes_pre_post_weights():
    weights = [np.arange(12.0).reshape(3, 4), -np.ones((4, 2))]
    net = feedforward_network([3, 4, 2], weights, neuron=na.LIF(tau_m=5e-3), encoder=na.RegularRate(50.0))
    model = TorchNetwork(net)
    np.testing.assert_array_equal(model.effective_weight("input_to_hidden1").detach().numpy(), weights[0])
    np.testing.assert_array_equal(model.effective_weight("hidden1_to_output").detach().numpy(), weights[1])
    assert net.populations["output"].model.tau_m == 5e-3


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(sizes=[64]), ValueError, "at least two positive integers"),
    (dict(sizes=[64, 0, 10]), ValueError, "at least two positive integers"),
    (dict(sizes="64"), TypeError, "sequence of layer widths"),
    (dict(sizes=[3, 4, 2], weights=[np.zeros((3, 4))]), ValueError, "list of 2 arrays"),
    (dict(sizes=[3, 4, 2], weights=[np.zeros((4, 3)), np.zeros((4, 2))]), ValueError,
     r"weights\[0\] must have shape \(3, 4\) \(pre, post\), got \(4, 3\)"),
    (dict(sizes=[3, 2], seed=-1), ValueError, "seed"),
    (dict(sizes=[3, 2], gain=0.0), ValueError, "gain"),
])
def test_feedforward_network_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        feedforward_network(**kwargs)


# ------------------------------------------------------------------ SpikingClassifier
def test_classifier_shapes_counts_and_gradients():
    net = feedforward_network([64, 40, 10], seed=0)
    model = SpikingClassifier(net, steps=20, seed=0)
    x = torch.rand(6, 8, 8, generator=torch.Generator().manual_seed(0))
    logits = model(x)
    assert logits.shape == (6, 10) and logits.dtype == torch.float32
    counts = model.last_spike_counts
    assert set(counts) == {"input", "hidden1", "output"}
    assert counts["output"] == pytest.approx(float(logits.detach().sum()) / 6)
    assert 0 < counts["input"] <= 20 * 64 and counts["hidden1"] > 0
    # each input spike reaches 40 neurons, each hidden spike 10
    assert model.last_synaptic_operations == pytest.approx(40 * counts["input"] + 10 * counts["hidden1"])
    nn.functional.cross_entropy(logits, torch.arange(6)).backward()
    for name, w in model.net.weights.items():
        assert w.grad is not None and w.grad.abs().sum() > 0, name
    # the module's generator is seeded: a fresh module repeats the first forward
    assert torch.equal(SpikingClassifier(net, steps=20, seed=0)(x), logits.detach())
    assert not torch.equal(model(x), logits.detach())  # the stream moves on


def test_classifier_with_regular_input_is_deterministic_and_round_trips():
    net = feedforward_network([4, 3], [np.full((4, 3), 0.6)], encoder=na.RegularRate(500.0))
    model = SpikingClassifier(net, steps=10, dtype="float64")
    x = torch.tensor([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    # inputs fire on steps 1, 3, 5, 7, 9; each pair adds 1.2 to v, which crosses v_th = 1 (after a
    # 5% leak) on the next step, steps 2, 4, 6, 8; the step-9 input arrives too late to count
    torch.testing.assert_close(model(x), torch.tensor([[4.0] * 3, [0.0] * 3], dtype=torch.float64))
    with torch.no_grad():
        model.net.weights["input_to_output"].mul_(2.0)
    np.testing.assert_array_equal(model.to_network().projections["input_to_output"].weights, 1.2)


def test_classifier_bad_arguments_and_inputs():
    net = feedforward_network([64, 10])
    with pytest.raises(ValueError, match=r"expected inputs of shape \(batch, 64\).*got \(3, 7, 7\)"):
        SpikingClassifier(net, 5)(torch.rand(3, 7, 7))
    with pytest.raises(ValueError, match=r"PoissonRate: stimulus values must lie in \[0, 1\]"):
        SpikingClassifier(net, 5)(2 * torch.ones(3, 64))
    with pytest.raises(ValueError, match="'steps' must be >= 1, got 0"):
        SpikingClassifier(net, 0)
    with pytest.raises(ValueError, match=r"'output' must name a population of the network \['output'\], got 'out'"):
        SpikingClassifier(net, 5, output="out")
    with pytest.raises(ValueError, match="'input' must name an input"):
        SpikingClassifier(net, 5, input="pixels")
    with pytest.raises(TypeError, match="encoder must be one of.*got Latency"):
        SpikingClassifier(feedforward_network([4, 2], encoder=na.Latency()), 5)
    with pytest.raises(TypeError, match="neuroai.Network"):
        SpikingClassifier("net", 5)


def test_training_on_digits_beats_chance_clearly(one_thread):
    data = digits_train_test(0.2, seed=0)
    model = SpikingClassifier(feedforward_network([64, 100, 10], seed=0), steps=25)
    loader = DataLoader(TensorDataset(*data["train"]), batch_size=64, shuffle=True,
                        generator=torch.Generator().manual_seed(0))
    trainer = Trainer(model, nn.CrossEntropyLoss(), torch.optim.Adam(model.parameters(), lr=1e-2),
                      metrics=["accuracy"], seed=0, progress=False, device="cpu")
    history = trainer.fit(loader, DataLoader(TensorDataset(*data["test"]), batch_size=360), epochs=3)
    assert history[-1]["val_accuracy"] > 0.8  # chance is 0.1; 0.90 measured
    assert history[-1]["loss"] < 0.5 * history[0]["loss"]
