"""The torch backend as an nn.Module: batches, gradients, and the round trip
of trained weights back into a Network that Brian2 runs."""
import numpy as np
import pytest
import torch

import neuroai as na
from neuroai import backends
from neuroai.backends.torch import TorchNetwork


def poisson_inputs(net, steps, batch, seed=0):
    rng = np.random.default_rng(seed)
    n = net.inputs["inp"].n
    raster = net.inputs["inp"].encoder.encode(rng.uniform(0, 1, (batch, n)), steps, net.dt, rng)
    return torch.as_tensor(raster, dtype=torch.float32)


def test_defaults_float32_and_time_batch_feature_shapes(small_net):
    model = TorchNetwork(small_net)
    assert model.dtype == torch.float32 and model.device.type in ("cpu", "cuda")
    out = model({"inp": poisson_inputs(small_net, 100, 3)})
    assert out.spikes["out"].shape == (100, 3, 30)
    steps, v = out.traces["out.v"]
    assert steps.tolist() == list(range(0, 100, 4)) and v.shape == (25, 3, 30)
    assert out.state.step == 100


def test_batch_elements_are_independent(small_net):
    model = TorchNetwork(small_net, dtype="float64")
    x = poisson_inputs(small_net, 200, 3)
    batched = model({"inp": x}).spikes["out"]
    for b in range(3):
        single = model({"inp": x[:, b:b + 1]}).spikes["out"]
        torch.testing.assert_close(batched[:, b:b + 1], single, rtol=0, atol=0)
    assert batched.sum() > 0


def test_surrogate_gradients_reach_every_projection_and_training_changes_output(small_net):
    torch.manual_seed(0)
    model = TorchNetwork(small_net)
    x = poisson_inputs(small_net, 150, 8)
    target = 5.0  # spikes per neuron per trial
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    losses = []
    for _ in range(15):
        counts = model({"inp": x}).spikes["out"].sum(0)
        loss = ((counts - target) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        for name, w in model.weights.items():
            assert w.grad is not None and w.grad.abs().sum() > 0, name
            mask = getattr(model, f"sign_mask__{name}")
            assert torch.all(w.grad[mask == 0] == 0), "gradients must not create synapses"
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_trained_weights_round_trip_to_brian2(small_net):
    model = TorchNetwork(small_net, dtype="float64")
    with torch.no_grad():
        model.weights["inp_to_out"].mul_(1.7)
        model.weights["out_to_out"].mul_(0.3)
    trained = model.to_network()
    proj = trained.projections["inp_to_out"]
    np.testing.assert_allclose(proj.weights, 1.7 * small_net.projections["inp_to_out"].weights)
    # the trained description runs spike for spike in Brian2 and in torch
    brian = na.Simulator(trained, "brian2", seed=3).run(0.3)
    torch_ = na.Simulator(trained, "torch", seed=3, dtype="float64").run(0.3)
    np.testing.assert_array_equal(brian.spikes["out"].steps, torch_.spikes["out"].steps)
    np.testing.assert_array_equal(brian.spikes["out"].indices, torch_.spikes["out"].indices)
    original = na.Simulator(small_net, "brian2", seed=3).run(0.3)
    assert brian.spike_count("out") > original.spike_count("out")


def test_sign_violations_are_reported_on_the_way_back(small_net):
    model = TorchNetwork(small_net)
    with torch.no_grad():
        model.weights["out_to_out"].sub_(1.0)
    with pytest.raises(ValueError, match="Projection 'out_to_out': sign='inhibitory' needs weight magnitudes >= 0"):
        model.to_network()


def test_unsupported_features_fail_at_build_time_naming_capable_backends(small_net, monkeypatch):
    import neuroai.backends.torch as torch_backend
    monkeypatch.setattr(torch_backend, "CAPABILITIES", torch_backend.CAPABILITIES - {"delay"})
    with pytest.raises(NotImplementedError, match=r"backend 'torch' does not support \['delay'\]; backends that do: "
                                                  r"\['brian2', 'nest'\]"):
        na.Simulator(small_net, "torch")
    table = backends.matrix_table()
    assert "| delay | yes | - | yes |" in table


def test_a_network_of_inputs_alone_runs():
    net = na.Network(dt=1e-3)
    net.add_input("i", 4, na.RegularRate(max_rate=100.0))
    net.monitor("i")
    result = na.Simulator(net, "torch").run(0.1)
    assert result.spike_count("i") == 40


def test_exclusive_populations_give_each_neuron_to_the_copy_that_fires_it_first(small_net):
    model = TorchNetwork(small_net, dtype="float64")
    one = poisson_inputs(small_net, 200, 1)
    x = torch.cat([torch.zeros_like(one), one, one], dim=1)  # copy 0 silent, copies 1 and 2 identical
    free = model({"inp": x}).spikes["out"].sum(0)
    assert free[0].sum() == 0 and free[1].sum() > 0
    torch.testing.assert_close(free[1], free[2])
    # exclusive: copy 1 fires first (ties go to the lower copy), so it keeps the neurons that fire;
    # copy 2 keeps only those that copy 1 never fired (they fire there for want of inhibition)
    shared = model({"inp": x}, exclusive=("out",)).spikes["out"].sum(0)
    assert shared[1].sum() > 0 and shared[2].sum() < free[2].sum() / 2
    assert torch.all((shared > 0).sum(0) <= 1)  # no neuron fires in two copies
    # a copy that fires a neuron alone keeps it
    solo = model({"inp": torch.cat([x[:, :1], x[:, 2:]], dim=1)}, exclusive=("out",)).spikes["out"].sum(0)
    torch.testing.assert_close(solo[1], free[2])
    with pytest.raises(ValueError, match="'exclusive' names unknown populations \\['nope'\\]"):
        model({"inp": x}, exclusive=("nope",))


def test_sparse_projections_train_and_round_trip_like_dense_ones(small_net):
    x = poisson_inputs(small_net, 100, 2)
    dense, sparse = TorchNetwork(small_net, dtype="float64"), TorchNetwork(small_net, dtype="float64", sparse=True)
    assert dense.sparse == frozenset() and sparse.sparse == {"inp_to_out", "out_to_out"}
    assert sparse.weights["inp_to_out"].shape == (small_net.projections["inp_to_out"].n_synapses,)
    a, b = dense({"inp": x}).spikes["out"], sparse({"inp": x}).spikes["out"]
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    a.sum().backward()
    b.sum().backward()
    proj = small_net.projections["inp_to_out"]
    grad_dense = dense.weights["inp_to_out"].grad[torch.as_tensor(proj.pre_idx), torch.as_tensor(proj.post_idx)]
    torch.testing.assert_close(sparse.weights["inp_to_out"].grad, grad_dense)
    assert sparse.weights["inp_to_out"].grad.abs().sum() > 0
    with torch.no_grad():
        sparse.weights["inp_to_out"].mul_(2.0)
    np.testing.assert_allclose(sparse.to_network().projections["inp_to_out"].weights, 2 * proj.weights)
    with pytest.raises(ValueError, match="'sparse' must be None \\(automatic\\), True or False, got 'yes'"):
        TorchNetwork(small_net, sparse="yes")


def test_a_large_sparse_network_is_stored_per_synapse_by_default():
    net = na.Network(dt=1e-4)
    net.add_input("inp", 200, na.PoissonRate(max_rate=50.0))
    net.add_population("big", 40_000, na.LIF(tau_m=10e-3))
    net.connect("inp", "big", na.FixedProbability(0.05, seed=0), weight=0.5)
    net.connect("big", "big", na.FixedProbability(5e-4, seed=1), weight=0.1, sign="inhibitory")
    model = TorchNetwork(net)
    assert model.sparse == {"big_to_big"}  # 1.6e9 dense entries, 8e5 synapses; the small input stays dense
    assert model.weights["big_to_big"].numel() == net.projections["big_to_big"].n_synapses
    out = model({"inp": poisson_inputs(net, 50, 1)})
    assert out.spikes["big"].sum() > 0


def test_float64_simulations_run_on_the_cpu_even_where_cuda_is_available(monkeypatch, small_net):
    """float64 is the parity mode, and the parity with Brian2 is the CPU's."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # (allocating on CUDA here would fail)
    sim = na.Simulator(small_net, "torch", dtype="float64")
    assert sim.runner.module.device.type == "cpu"
    assert sim.run(0.05).spike_count("out") > 0
