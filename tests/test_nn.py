"""neuroai.nn: layers composed as in snnTorch build a Network that trains in torch and runs in Brian2."""
import numpy as np
import pytest
import torch

import neuroai as na
from neuroai import nn as layers
from neuroai.backends.torch import TorchNetwork


def spikes(shape, seed: int, p: float = 0.3, dtype=torch.float64) -> torch.Tensor:
    return (torch.rand(shape, generator=torch.Generator().manual_seed(seed)) < p).to(dtype)


def test_a_sequential_model_is_the_network_it_describes():
    """Linear/Leaky layers give the spikes of the same Network written by hand (float64, bitwise)."""
    model = layers.Sequential(layers.Linear(20, 16, gain=3.0), layers.Leaky(tau_m=10e-3),
                              layers.Linear(16, 5, gain=3.0), layers.Leaky(reset="value"), dtype="float64")
    built = model.network
    by_hand = na.Network(dt=1e-3)
    by_hand.add_input("input", 20, na.PoissonRate(max_rate=500.0))
    by_hand.add_population("a", 16, na.LIF(tau_m=10e-3, reset="subtract"))
    by_hand.add_population("b", 5, na.LIF(tau_m=20e-3, reset="value"))
    by_hand.connect("input", "a", weight=built.projections["input_to_layer1"].weights)
    by_hand.connect("a", "b", weight=built.projections["layer1_to_layer2"].weights)
    x = spikes((40, 3, 20), 0)
    ours, theirs = model(x), TorchNetwork(by_hand, dtype="float64")({"input": x}).spikes["b"]
    assert ours.sum() > 10 and torch.equal(ours, theirs)


def test_a_convolution_is_torchs_conv2d_and_runs_in_brian2():
    model = layers.Sequential(layers.Conv2d(2, 3, 3, stride=2, padding=1, gain=4.0), layers.Leaky(),
                              layers.Linear(3 * 4 * 4, 4, gain=4.0), layers.Leaky(), input_shape=(2, 7, 7),
                              dtype="float64")
    # the synapses' weights are the kernel's: F.conv2d of an input map through the dense matrix
    kernel = model.kernels["input_to_layer1"].detach().reshape(3, 2, 3, 3)
    image = torch.rand(1, 2, 7, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    dense = model._kernel_weights()["input_to_layer1"]
    expected = torch.nn.functional.conv2d(image, kernel, stride=2, padding=1).flatten(1)
    torch.testing.assert_close(image.flatten(1) @ dense, expected, rtol=1e-12, atol=1e-12)
    # the Network runs in Brian2 with the very spikes the module computes
    x = spikes((30, 1, 2, 7, 7), 2)
    out = model(x)[:, 0]
    net = model.to_network()
    net.inputs["input"] = na.Input("input", 98, na.SpikeArray())
    brian = na.Simulator(net, "brian2", target="numpy").run(0.03, inputs={"input": x[:, 0].flatten(1).numpy()})
    steps, idx = torch.nonzero(out, as_tuple=True)
    assert len(steps) > 5
    np.testing.assert_array_equal(brian.spikes["layer2"].steps, steps.numpy())
    np.testing.assert_array_equal(brian.spikes["layer2"].indices, idx.numpy())


def test_training_shares_kernels_and_learns_time_constants():
    torch.manual_seed(0)
    model = layers.Sequential(layers.Conv2d(1, 2, 3, gain=3.0), layers.Leaky(),
                              layers.Linear(2 * 4 * 4, 3, gain=3.0), layers.Leaky(learn_tau=True),
                              input_shape=(1, 6, 6))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    x, target = spikes((20, 8, 1, 6, 6), 3, dtype=torch.float32), torch.arange(8) % 3
    losses = []
    for _ in range(15):
        loss = torch.nn.functional.cross_entropy(model(x).sum(0), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]
    net = model.to_network()
    proj = net.projections["input_to_layer1"]
    pre, post, kernel = model.layers[0].synapses((1, 6, 6))
    entry = np.full((36, 32), -1)
    entry[pre, post] = kernel
    kernel_index = entry[proj.pre_idx, proj.post_idx]     # each synapse's kernel entry, in the projection's order
    start = model.network.projections["input_to_layer1"].weights
    assert np.abs(proj.weights - start).max() > 1e-3        # the kernel trained ...
    for k in np.unique(kernel_index):                        # ... and every synapse of an entry holds its value
        assert np.ptp(proj.weights[kernel_index == k]) == 0
    assert net.populations["layer2"].model.tau_m != pytest.approx(20e-3, rel=1e-3)
    assert net.populations["layer1"].model.tau_m == 20e-3


def test_bad_layers_are_refused_where_they_enter():
    with pytest.raises(ValueError, match="layers must alternate a weight layer .* got 3 layers"):
        layers.Sequential(layers.Linear(4, 3), layers.Leaky(), layers.Linear(3, 2))
    with pytest.raises(TypeError, match="layer 1 must be a Leaky .* got Linear"):
        layers.Sequential(layers.Linear(4, 3), layers.Linear(3, 2))
    with pytest.raises(ValueError, match=r"a first Conv2d needs input_shape=\(channels, height, width\)"):
        layers.Sequential(layers.Conv2d(1, 2, 3), layers.Leaky())
    with pytest.raises(ValueError, match=r"Linear: in_features is 5, but its input has shape \(3,\)"):
        layers.Sequential(layers.Linear(4, 3), layers.Leaky(), layers.Linear(5, 2), layers.Leaky())
    with pytest.raises(ValueError, match=r"Conv2d: a 5x5 kernel does not fit an input of 3x3"):
        layers.Sequential(layers.Conv2d(1, 2, 5), layers.Leaky(), input_shape=(1, 3, 3))
    with pytest.raises(ValueError, match=r"parameter 'out_features' must be >= 1, got 0"):
        layers.Linear(4, 0)
    model = layers.Sequential(layers.Linear(4, 3), layers.Leaky())
    with pytest.raises(ValueError, match=r"input spikes must have shape \(time, batch, \*\(4,\)\), got \(2, 5\)"):
        model(torch.zeros(2, 5))
    with pytest.raises(ValueError, match=r"'learn_tau_m' names population 'p', a Izhikevich"):
        net = na.Network(dt=1e-3)
        net.add_population("p", 2, na.Izhikevich())
        TorchNetwork(net, learn_tau_m=("p",))
