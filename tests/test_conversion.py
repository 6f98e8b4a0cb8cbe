"""ANN-to-SNN conversion: data-based normalization, accuracy against the ANN,
and the same spikes on both backends."""
import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import neuroai as na
from neuroai.conversion import (IF_TAU_STEPS, ann_to_network, conversion_accuracy, normalize_weights,
                                output_counts, present)
from neuroai.data import digits_train_test
from neuroai.models import MLP, feedforward_network
from neuroai.training import Trainer


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def trained(one_thread):
    """A bias-free ReLU MLP trained on digits (about 96% test accuracy), and its conversion."""
    data = digits_train_test(0.2, seed=0)
    mlp = MLP([64, 100, 10], bias=False, seed=0)
    loader = DataLoader(TensorDataset(*data["train"]), batch_size=64, shuffle=True,
                        generator=torch.Generator().manual_seed(0))
    Trainer(mlp, nn.CrossEntropyLoss(), torch.optim.Adam(mlp.parameters(), lr=3e-3), seed=0,
            progress=False, device="cpu").fit(loader, epochs=20)
    mlp.eval()
    return mlp, data, ann_to_network(mlp, data["train"][0])


def relu_layers(weights, x):
    """Activations of each layer of a bias-free ReLU net with (pre, post) weights."""
    out, a = [], x.reshape(len(x), -1).double().numpy()
    for w in weights:
        a = np.maximum(a @ w, 0.0)
        out.append(a)
    return out


def test_normalization_scales_each_layer_to_its_percentile(trained):
    mlp, data, conversion = trained
    x = data["train"][0]
    for pct in (99.9, 100.0):
        weights, scales = normalize_weights(mlp, x, percentile=pct)
        assert scales[0] == 1.0 and len(scales) == 3 and all(s > 0 for s in scales)
        for a in relu_layers(weights, x):  # the rescaled net: each layer's percentile is 1
            assert np.percentile(a[a > 0], pct) == pytest.approx(1.0, rel=1e-12)
        original = [m.weight.detach().double().numpy().T for m in mlp.layers if isinstance(m, nn.Linear)]
        for k, (w, w0) in enumerate(zip(weights, original)):
            np.testing.assert_allclose(w, w0 * scales[k] / scales[k + 1], rtol=1e-12)
        # positive scaling keeps every ReLU unit's sign, so the predictions
        xt = data["test"][0]
        np.testing.assert_array_equal(relu_layers(weights, xt)[-1].argmax(1),
                                      relu_layers(original, xt)[-1].argmax(1))
    assert conversion.scales == normalize_weights(mlp, x)[1]
    for name, w in zip(conversion.network.projections, normalize_weights(mlp, x)[0]):
        np.testing.assert_array_equal(conversion.network.projections[name].weights, w.ravel())


def test_converted_network_is_integrate_and_fire_with_regular_input(trained):
    network = trained[2].network
    assert list(network.populations) == ["hidden1", "output"]
    for pop in network.populations.values():
        assert (pop.model.reset, pop.model.v_th, pop.model.tau_m) == ("subtract", 1.0, IF_TAU_STEPS * 1e-3)
        assert pop.model.propagators(network.dt, ())[1] == 1.0  # exactly no leak
    assert network.inputs["input"].encoder == na.RegularRate(max_rate=1000.0)


def test_converted_accuracy_approaches_the_ann(trained):
    mlp, data, conversion = trained
    x, y = data["test"]
    with torch.no_grad():
        ann = float((mlp(x).argmax(1) == y).double().mean())
    assert ann > 0.93
    acc = conversion_accuracy(present(conversion.network, x, steps=200), y, [5, 50, 200])
    assert list(acc) == [5, 50, 200]
    assert acc[200] >= ann - 0.01  # 0.961 for both, measured
    assert acc[5] < acc[200]  # too few steps: the output has barely started to fire
    # a Poisson input gives another (noisier) network of the same weights
    poisson = ann_to_network(mlp, data["train"][0], encoder=na.PoissonRate(500.0)).network
    noisy = conversion_accuracy(present(poisson, x, steps=200, seed=1), y, [200])
    assert noisy[200] > 0.85
    assert noisy == conversion_accuracy(present(poisson, x, steps=200, seed=1), y, [200])


def test_brian2_and_torch_give_the_same_counts_in_float64(trained):
    _, data, conversion = trained
    x = data["test"][0][:4]
    torch_counts = output_counts(present(conversion.network, x, steps=120, dtype="float64"), [30, 120])
    brian_counts = output_counts(present(conversion.network, x, steps=120, backend="brian2"), [30, 120])
    assert torch_counts.shape == (2, 4, 10) and torch_counts[-1].sum() > 100
    np.testing.assert_array_equal(brian_counts, torch_counts)


def test_ties_go_to_the_first_class():
    # two output neurons driven identically: always tied, so class 0 is predicted
    net = feedforward_network([2, 2], [np.full((2, 2), 0.7)], encoder=na.RegularRate(1000.0),
                            neuron=na.LIF(tau_m=1.0, reset="subtract"))
    x = np.ones((3, 2))
    assert conversion_accuracy(present(net, x, steps=10), np.array([0, 0, 1]), [10]) == {10: 2 / 3}


@pytest.mark.parametrize("make, exc, match", [
    (lambda: MLP([64, 10], seed=0), ValueError, r"bias-free.*MLP\(..., bias=False\)"),
    (lambda: MLP([64, 8, 10], batch_norm=True, bias=False), ValueError, "no batch norm"),
    (lambda: MLP([64, 8, 10], activation="tanh", bias=False), ValueError, "activation must be 'relu'.*got 'tanh'"),
    (lambda: nn.Linear(64, 10, bias=False), TypeError, "neuroai.models.MLP, got Linear"),
])
def test_unconvertible_models_are_rejected(make, exc, match):
    with pytest.raises(exc, match=match):
        ann_to_network(make(), torch.rand(10, 64))


def test_dropout_is_allowed_and_bad_arguments_are_reported():
    mlp = MLP([64, 8, 10], dropout=0.5, bias=False, seed=0)
    x = torch.rand(20, 8, 8, generator=torch.Generator().manual_seed(0))
    network = ann_to_network(mlp, x).network
    with pytest.raises(ValueError, match=r"'percentile' must be in \(0, 100\], got 0"):
        ann_to_network(mlp, x, percentile=0)
    with pytest.raises(ValueError, match=r"images must lie in \[0, 1\]"):
        ann_to_network(mlp, 2 * x)
    with pytest.raises(ValueError, match=r"images must have shape \(n_samples, 64\).*got \(20, 7\)"):
        ann_to_network(mlp, x[:, 0, :7])
    with pytest.raises(ValueError, match="'max_rate'.*or 'encoder', not both"):
        ann_to_network(mlp, x, max_rate=500.0, encoder=na.RegularRate(500.0))
    with pytest.raises(TypeError, match="'encoder' must be one of"):
        ann_to_network(mlp, x, encoder=na.Latency())
    dead = MLP([64, 8, 10], init="zeros", bias=False)
    with pytest.raises(ValueError, match="layer 1 has no positive activation"):
        ann_to_network(dead, x)
    y = np.zeros(20, dtype=np.int64)
    result = present(network, x, steps=10)
    with pytest.raises(ValueError, match=r"'checkpoints' must hold integers in \[1, steps=10\], got \[0, 10\]"):
        conversion_accuracy(result, y, [0, 10])
    with pytest.raises(ValueError, match=r"'y' must hold one integer label per sample, shape \(20,\)"):
        conversion_accuracy(result, y[:5], [10])
    with pytest.raises(ValueError, match="unknown backend|'backend'"):
        present(network, x, steps=10, backend="nengo")
    with pytest.raises(ValueError, match="one input 'input' and a population 'output'"):
        present(na.Network(), x, steps=10)
