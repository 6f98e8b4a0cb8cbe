"""Layer-by-layer execution of feedforward networks in the torch backend: the step-by-step spikes and states
(bitwise in float64) and gradients (to rounding), and no host synchronization inside the time loop."""
import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

import neuroai as na
from neuroai.backends.torch import TorchNetwork

DT = 1e-4


def dag_network() -> na.Network:
    """Two inputs onto a DAG of four populations: delays (0, 2 and 5 steps), refractoriness, two exponential
    currents, an Izhikevich layer, a population fed by two layers and an input, and state monitors."""
    net = na.Network(dt=DT)
    net.add_input("inp", 30, na.PoissonRate(max_rate=200.0))
    net.add_input("cue", 8, na.PoissonRate(max_rate=300.0))
    net.add_population("a", 20, na.LIF(tau_m=10e-3, t_ref=3 * DT), v_init=na.Uniform(0.0, 0.9, seed=1))
    net.add_population("b", 15, na.LIF(tau_m=15e-3, t_ref=0.0))
    net.add_population("c", 12, na.LIF(tau_m=20e-3, t_ref=2 * DT))
    net.add_population("iz", 6, na.Izhikevich.of_type("fast_spiking"))
    net.connect("inp", "a", weight=na.Uniform(0.1, 0.5, seed=2), connectivity=na.FixedProbability(0.5, seed=3))
    net.connect("a", "b", weight=na.Uniform(0.0, 0.3, seed=4), synapse=na.ExponentialCurrent(3e-3, "I_exc"),
                delay=2 * DT)
    net.connect("a", "c", weight=na.Uniform(0.1, 0.6, seed=5), connectivity=na.FixedProbability(0.6, seed=6))
    net.connect("b", "c", weight=na.Uniform(0.0, 0.2, seed=7), sign="inhibitory", delay=5 * DT)
    net.connect("cue", "b", weight=na.Uniform(0.0, 0.4, seed=8), synapse=na.ExponentialCurrent(8e-3, "I_cue"))
    net.connect("c", "iz", weight=na.Uniform(5.0, 20.0, seed=9))
    net.monitor("a", "v")
    net.monitor("b", "I_exc", every=3)
    return net


def inputs(batch: int, steps: int, seed: int, dtype) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {"inp": (torch.rand(steps, batch, 30, generator=g) < 0.05).to(dtype),
            "cue": (torch.rand(steps, batch, 8, generator=g) < 0.1).to(dtype)}


def two_calls(module: TorchNetwork, batch: int = 3):
    """Two consecutive calls (the second continues the first's state, delays and all), and the gradient of
    a loss on every population's spikes with respect to every weight."""
    first = module(inputs(batch, 60, 0, module.dtype), state=module.initial_state(batch))
    second = module(inputs(batch, 45, 1, module.dtype), state=first.state)
    loss = sum((out.spikes[p] * torch.arange(1.0, out.spikes[p].shape[-1] + 1, dtype=module.dtype)).sum()
               for out in (first, second) for p in out.spikes)
    grads = torch.autograd.grad(loss, list(module.parameters()), allow_unused=True)
    return first, second, grads


@pytest.mark.parametrize("sparse", [False, True])
def test_layer_by_layer_is_step_by_step_bitwise_in_float64(sparse):
    net = dag_network()
    layers, steps = (two_calls(TorchNetwork(net, dtype="float64", sparse=sparse, layerwise=flag))
                     for flag in (True, False))
    assert sum(int(s.sum()) for s in layers[0].spikes.values()) > 200
    for a, b in zip(layers[:2], steps[:2]):
        for p in net.populations:
            assert torch.equal(a.spikes[p], b.spikes[p])
        for key in a.traces:
            np.testing.assert_array_equal(a.traces[key][0], b.traces[key][0])
            assert torch.equal(a.traces[key][1], b.traces[key][1])
        for (_, var, x), (_, _, y) in zip(a.state.variables(), b.state.variables()):
            assert torch.equal(x, y), var
        assert all(torch.equal(torch.stack(h), torch.stack(b.state.history[s])) for s, h in a.state.history.items())
    assert sum(g is not None and bool(g.abs().sum() > 0) for g in layers[2]) >= 5
    for g, h in zip(layers[2], steps[2]):   # (autograd sums the steps' contributions in another order)
        assert (g is None and h is None) or torch.allclose(g, h, rtol=1e-12, atol=0)


def test_layer_by_layer_float32_agrees_to_rounding():
    net = dag_network()
    layers, steps = (two_calls(TorchNetwork(net, dtype="float32", layerwise=flag)) for flag in (True, False))
    for a, b in zip(layers[:2], steps[:2]):
        total = sum(int(b.spikes[p].sum()) for p in net.populations)
        differ = sum(int((a.spikes[p] != b.spikes[p]).sum()) for p in net.populations)
        assert total > 200 and differ <= 0.002 * total
        torch.testing.assert_close(a.traces["a.v"][1], b.traces["a.v"][1], rtol=1e-4, atol=1e-5)


def test_recurrent_networks_run_step_by_step_with_the_same_result():
    """A cycle between populations (here a -> b -> a) cannot run layer by layer; the option changes nothing."""
    net = dag_network()
    net.connect("b", "a", weight=0.2, sign="inhibitory", name="back")
    a, b = (two_calls(TorchNetwork(net, dtype="float64", layerwise=flag))[1] for flag in (True, False))
    assert all(torch.equal(a.spikes[p], b.spikes[p]) for p in net.populations)


SYNCING = {"nonzero", "_local_scalar_dense", "item", "is_nonzero", "equal", "allclose"}


class HostReads(TorchDispatchMode):
    """Counts the operators that read a tensor's values back to the host (a synchronization on a GPU)."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += func.__name__.split(".")[0] in SYNCING
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("sparse", [False, True])
def test_no_host_reads_inside_the_time_loop(sparse):
    """Forward and backward in float32 read values back to the host as often for 100 steps as for 10: only
    when checking the inputs, never per step. (On the CPU, step-by-step delivery still counts spikes, which
    costs nothing there; a GPU test below checks the step-by-step path too.)"""
    module = TorchNetwork(dag_network(), dtype="float32", sparse=sparse)
    counts = []
    for steps in (10, 100):
        x = inputs(4, steps, 2, torch.float32)
        with HostReads() as reads:
            out = module(x)
            sum(s.sum() for s in out.spikes.values()).backward()
        counts.append(reads.count)
    assert counts[0] == counts[1] < 10


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (the device machine)")
@pytest.mark.parametrize("recurrent", [False, True])
def test_no_synchronization_inside_the_time_loop_on_cuda(recurrent):
    """Under CUDA's sync debug mode, forward and backward synchronize as often over 100 steps as over 10."""
    import warnings

    net = dag_network()
    if recurrent:
        net.connect("b", "a", weight=0.2, sign="inhibitory", name="back")
    module = TorchNetwork(net, dtype="float32", device="cuda")
    counts = []
    for steps in (10, 100):
        x = {k: v.cuda() for k, v in inputs(4, steps, 2, torch.float32).items()}
        torch.cuda.synchronize()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                out = module(x)
                sum(s.sum() for s in out.spikes.values()).backward()
            finally:
                torch.cuda.set_sync_debug_mode("default")
        counts.append(sum("synchroniz" in str(w.message) for w in caught))
    assert counts[0] == counts[1]


def plain_lif_network(reset: str, monitored: bool, offset: bool = False) -> na.Network:
    """Input -> 24 -> 10 plain LIF neurons (no refractory period, delta synapses): each layer runs as one fused
    operation, unless a state monitor on it asks for the step-by-step loop. ``offset``: a resting value (so the
    decay adds a constant), a reset value other than 0 and a threshold other than 1."""
    from neuroai.models import feedforward_network

    levels = dict(v_rest=0.1, v_reset=-0.2, v_th=0.9) if offset else dict(v_reset=0.0)
    net = feedforward_network([30, 24, 10], neuron=na.LIF(tau_m=8e-3, reset=reset, **levels), gain=2.5)
    if monitored:
        for p in ("hidden1", "output"):
            net.monitor(p, "v")
    return net


@pytest.mark.parametrize("reset, offset", [("subtract", False), ("value", False), ("subtract", True),
                                           ("value", True)])
def test_fused_lif_layers_compute_the_loops_spikes_and_gradients(reset, offset):
    """float32: the fused run gives the step-by-step loop's spikes exactly (the same inputs and arithmetic),
    and its gradients to rounding, a learned time constant's included, and second derivatives too."""
    x = inputs(6, 50, 4, torch.float32)["inp"]
    results = []
    for monitored in (False, True):
        module = TorchNetwork(plain_lif_network(reset, monitored, offset), learn_tau_m=("hidden1",))
        out = module({"input": x})
        loss = (out.spikes["output"].sum(0) * torch.arange(1.0, 11.0)).sum() + out.spikes["hidden1"].sum()
        params = list(module.parameters())
        grads = torch.autograd.grad(loss, params, retain_graph=True)        # (the fused backward loop)
        differentiable = torch.autograd.grad(loss, params, create_graph=True)   # (the replayed steps)
        second = torch.autograd.grad(sum(g.sum() for g in differentiable), params)
        results.append((out.spikes, list(grads), second))
    (fused, fused_grads, fused_second), (loop, loop_grads, loop_second) = results
    assert sum(int(s.sum()) for s in loop.values()) > 100
    assert all(torch.equal(fused[p], loop[p]) for p in loop)
    assert float(loop_grads[-1]) != 0.0        # the time constant's gradient
    for g, h in zip(fused_grads + list(fused_second), loop_grads + list(loop_second)):
        torch.testing.assert_close(g, h, rtol=1e-4, atol=1e-6)


def test_reading_input_values_to_check_them_can_be_skipped():
    """By default a negative input is refused where it enters; an encoder's own spikes can skip the pass."""
    module = TorchNetwork(plain_lif_network("subtract", False))
    bad = -torch.ones(3, 2, 30)
    with pytest.raises(ValueError, match=r"input 'input' must be >= 0 \(spikes, or counts of them\), got minimum -1"):
        module({"input": bad})
    assert module({"input": bad}, check_values=False).spikes["output"].shape == (3, 2, 10)
    with pytest.raises(TypeError, match=r"parameter 'check_values' must be True or False"):
        module({"input": bad.abs()}, check_values="no")
