"""Networks to NIR and back (neuroai.interop.nir), snnTorch's NIR exports
run by neuroai spike for spike, and neuroai's exports (target="snntorch") run
by snnTorch's own importer spike for spike."""
import contextlib
import io
import signal
import warnings

import numpy as np
import pytest

import neuroai as na

import nir
import nirtorch
import snntorch as snn
import torch
from snntorch.export_nir import _extract_snntorch_module, export_to_nir
from snntorch.import_nir import import_from_nir
from torch import nn

from neuroai.interop import from_nir, to_nir
from neuroai.interop.nir import nir_latency

torch.set_num_threads(1)
DT = 1e-4
BACKENDS = [("torch", {"dtype": "float64"}), ("brian2", {"target": "numpy"})]


def small_network() -> na.Network:
    """input -> a (delta, reset by subtraction, bias current) -> b (exponential
    current from both, excitatory and inhibitory, reset to a value)."""
    net = na.Network(dt=DT)
    net.add_input("inp", 20, na.SpikeArray())
    net.add_population("a", 30, na.LIF(tau_m=10e-3, reset="subtract", v_reset=-0.1, i_bias=0.3),
                       v_init=na.Uniform(0, 0.5, seed=1))
    net.add_population("b", 10, na.LIF(tau_m=15e-3, v_rest=0.1, v_reset=-0.2, R=2.0, reset="value"))
    net.connect("inp", "a", na.FixedProbability(0.5, seed=2), weight=na.Uniform(0.05, 0.3, seed=3))
    net.connect("a", "b", weight=na.Uniform(0, 0.6, seed=4), synapse=na.ExponentialCurrent(5e-3, "I_exc"),
                sign="excitatory")
    net.connect("a", "b", na.FixedProbability(0.3, seed=5), weight=na.Uniform(0, 0.4, seed=6),
                synapse=na.ExponentialCurrent(5e-3, "I_exc"), sign="inhibitory", name="a_inhibits_b")
    net.connect("inp", "b", na.FixedProbability(0.3, seed=7), weight=0.3, synapse=na.ExponentialCurrent(5e-3, "I_exc"))
    net.monitor("a")
    net.monitor("b")
    net.monitor("a", "v", every=10)
    return net


def raster(steps: int, n: int, p: float = 0.05, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((steps, n)) < p


def run(net, backend, opts, inputs, steps):
    return na.Simulator(net, backend, seed=0, **opts).run(steps * DT, inputs)


def assert_same_spikes(a, b, names):
    for name in names:
        np.testing.assert_array_equal(a.spikes[name].steps, b.spikes[name].steps, err_msg=f"spike steps of {name}")
        np.testing.assert_array_equal(a.spikes[name].indices, b.spikes[name].indices, err_msg=f"neurons of {name}")


# --- neuroai -> NIR -> neuroai --------------------------------------------

def test_export_maps_parts_to_nir_nodes():
    net = small_network()
    g = to_nir(net)
    kinds = {k: type(n).__name__ for k, n in g.nodes.items()}
    assert kinds == {"inp": "Input", "a": "LIF", "b": "CubaLIF", "inp_to_a": "Affine", "a_to_b": "Linear",
                     "a_inhibits_b": "Linear", "inp_to_b": "Linear", "output_a": "Output", "output_b": "Output"}
    assert ("inp", "inp_to_a") in g.edges and ("inp_to_a", "a") in g.edges and ("a", "output_a") in g.edges
    a, b = g.nodes["a"], g.nodes["b"]
    beta = np.exp(-DT / 10e-3)
    np.testing.assert_allclose(a.tau, DT / (1 - beta))              # snnTorch's tau = dt / (1 - beta)
    np.testing.assert_allclose(a.v_reset, 1.0 - beta * 1.1)         # subtracts beta (v_th - v_reset) next step
    np.testing.assert_array_equal(b.v_reset, -0.2)
    assert a.metadata["dt"] == DT and a.metadata["reset"] == "subtract" and b.metadata["reset"] == "value"
    proj = net.projections["a_inhibits_b"]
    w = g.nodes["a_inhibits_b"].weight
    assert w.shape == (10, 30) and np.all(w[proj.post_idx, proj.pre_idx] < 0)  # sign applied
    assert np.count_nonzero(w) == proj.n_synapses
    np.testing.assert_allclose(g.nodes["inp_to_a"].bias, 0.3 * (1 - beta))  # i_bias as the Affine bias


@pytest.mark.parametrize("backend,opts", BACKENDS, ids=[b for b, _ in BACKENDS])
def test_round_trip_gives_the_same_spikes(backend, opts):
    net = small_network()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # rebuilt from metadata, not re-read from the NIR view
        back = from_nir(to_nir(net))
    assert list(back.projections) == list(net.projections)
    assert back.populations["a"].model == net.populations["a"].model
    np.testing.assert_array_equal(back.populations["a"].v_init, net.populations["a"].v_init)
    assert isinstance(back.inputs["inp"].encoder, na.SpikeArray)
    spikes = {"inp": raster(2000, 20)}
    original, rebuilt = run(net, backend, opts, spikes, 2000), run(back, backend, opts, spikes, 2000)
    assert original.spike_count("a") > 100 and original.spike_count("b") > 20
    assert_same_spikes(original, rebuilt, ["a", "b"])
    np.testing.assert_array_equal(original.trace("a.v").values, rebuilt.trace("a.v").values)


def test_file_round_trip(tmp_path):
    net = small_network()
    path = tmp_path / "net.nir"
    nir.write(path, to_nir(net))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        back = from_nir(nir.read(path))
    assert back.monitors == net.monitors
    spikes = {"inp": raster(2000, 20, seed=1)}
    original, rebuilt = run(net, *BACKENDS[0], spikes, 2000), run(back, *BACKENDS[0], spikes, 2000)
    assert original.spike_count("b") > 20
    assert_same_spikes(original, rebuilt, ["a", "b"])
    assert from_nir(str(path)).dt == DT  # a path works too


def test_nir_view_alone_steps_like_the_network():
    # Without neuroai's exact metadata (only dt and reset hints), the NIR
    # parameters read back as the same per-step constants.
    net = na.Network(dt=DT)
    net.add_input("inp", 20, na.SpikeArray())
    net.add_population("a", 30, na.LIF(tau_m=10e-3, reset="subtract", v_reset=-0.2))
    net.add_population("b", 10, na.LIF(tau_m=15e-3, v_rest=0.1, v_reset=-0.2, R=2.0, reset="value"))
    net.connect("inp", "a", na.FixedProbability(0.5, seed=2), weight=na.Uniform(0.05, 0.4, seed=3))
    net.connect("a", "b", weight=na.Uniform(-0.1, 0.3, seed=4), synapse=na.ExponentialCurrent(5e-3, "I_exc"))
    net.monitor("a")
    net.monitor("b")
    g = to_nir(net)
    for node in g.nodes.values():
        node.metadata.pop("neuroai", None)
    g.metadata = {}
    back = from_nir(g)
    assert nir_latency(g) == {"a": 1, "b": 2}
    spikes = {"inp": raster(2000, 20, seed=2)}
    original, imported = run(net, *BACKENDS[0], spikes, 2000), run(back, *BACKENDS[0], spikes, 2000)
    assert original.spike_count("a") > 100 and original.spike_count("b") > 20
    assert_same_spikes(original, imported, ["a", "b"])


def test_edited_graph_is_imported_from_its_nir_parameters():
    g = to_nir(small_network())
    g.nodes["a_to_b"].weight = g.nodes["a_to_b"].weight * 2
    with pytest.warns(UserWarning, match="differ from its neuroai metadata"):
        back = from_nir(g)
    assert "bias" in back.populations  # the generic import (bias population), not the metadata


# --- snnTorch -> NIR -> neuroai -------------------------------------------

def snntorch_spikes(net: nn.Sequential, x: torch.Tensor) -> dict[int, np.ndarray]:
    """Spikes (T, n) of each spiking layer of ``net`` for input x (T, 1, ...),
    from the resting state (an export may have run the network)."""
    layers = [i for i, m in enumerate(net) if isinstance(m, snn.SpikingNeuron)]
    for i in layers:
        for state in ("mem", "syn", "spk"):
            if isinstance(getattr(net[i], state, None), torch.Tensor):
                setattr(net[i], state, torch.zeros(0, dtype=x.dtype))
    out = {i: [] for i in layers}
    with torch.no_grad():
        for t in range(len(x)):
            h = x[t]
            for i, module in enumerate(net):
                h = module(h)
                h = (h[0] if isinstance(h, tuple) else h).to(x.dtype)
                if i in layers:
                    out[i].append(h.reshape(-1) > 0)
    return {i: torch.stack(s).numpy() for i, s in out.items()}


def assert_matches_snntorch(graph, reference: dict[int, np.ndarray], x: np.ndarray, backends=BACKENDS):
    """neuroai's population at depth d fires at step t + d where snnTorch's layer fired at t."""
    net = from_nir(graph, dt=DT)
    latency = nir_latency(graph)
    names = [n for n in net.populations if n != "bias"]
    assert len(names) == len(reference)
    for name in names:
        if all(m.target != name for m in net.monitors):
            net.monitor(name)
    steps, lag = len(x), max(latency.values())
    padded = np.concatenate([x.reshape(steps, -1), np.zeros((lag, x[0].size), dtype=bool)])
    for backend, opts in backends:
        result = run(net, backend, opts, {next(iter(net.inputs)): padded}, steps + lag)
        for name, expected in zip(names, reference.values()):
            d = latency[name]
            got = result.raster(name)
            assert not got[:d].any(), f"{backend}: {name} fired before its latency {d}"
            np.testing.assert_array_equal(got[d:d + steps], expected, err_msg=f"{backend}: spikes of {name}")


def leaky_sequential(per_neuron: bool) -> nn.Sequential:
    torch.manual_seed(0)

    def leaky(beta, n, **kw):
        if per_neuron:  # snnTorch 1.0's export_to_nir needs array parameters to pass NIR 1.0.8's type checks
            return snn.Leaky(beta=torch.full((n,), beta), threshold=torch.ones(n), init_hidden=True, **kw)
        return snn.Leaky(beta=beta, init_hidden=True, **kw)

    net = nn.Sequential(nn.Linear(20, 30), leaky(0.9, 30), nn.Linear(30, 10), leaky(0.8, 10, output=True))
    with torch.no_grad():
        net[0].weight.mul_(3.0)
        net[2].weight.mul_(3.0)
    return net


def input_spikes(shape, steps=300, p=0.2):
    return torch.rand(steps, 1, *shape, generator=torch.Generator().manual_seed(1)) < p


def test_snntorch_leaky_network_spikes_match_exactly():
    net = leaky_sequential(per_neuron=True)
    graph = export_to_nir(net, torch.zeros(20))
    x = input_spikes((20,))
    reference = snntorch_spikes(net, x.float())
    assert reference[1].sum() > 300 and reference[3].sum() > 50
    assert nir_latency(graph) == {"lif_1": 1, "lif_3": 2}
    imported = from_nir(graph, dt=DT)
    assert imported.populations["lif_1"].model.reset == "subtract"
    assert [m.target for m in imported.monitors] == ["lif_3"]  # the graph's Output
    assert_matches_snntorch(graph, reference, x[:, 0].numpy())


def test_snntorch_scalar_parameters_and_float64():
    # snnTorch's Leaky(beta=0.9) exports 0-d parameters, on which snnTorch 1.0's export_to_nir fails NIR 1.0.8's
    # type inference (snntorch#410); the graph is rebuilt with 0-d parameters here, and from_nir broadcasts them.
    net = leaky_sequential(per_neuron=False)
    exported = export_to_nir(leaky_sequential(per_neuron=True), torch.zeros(20))
    nodes = dict(exported.nodes)
    for key in ("1", "3"):
        lif = nodes[key]
        nodes[key] = nir.LIF(tau=lif.tau[:1].reshape(()), r=lif.r[:1].reshape(()), v_leak=np.array(0.0),
                             v_threshold=np.array(1.0), v_reset=np.array(0.0))
    graph = nir.NIRGraph(nodes=nodes, edges=list(exported.edges), type_check=False)
    net = net.double()
    x = input_spikes((20,))
    assert_matches_snntorch(graph, snntorch_spikes(net, x.double()), x[:, 0].numpy(), BACKENDS[:1])


def test_snntorch_synaptic_recurrent_and_conv_layers():
    torch.manual_seed(0)
    synaptic = nn.Sequential(
        nn.Linear(20, 30), snn.Synaptic(alpha=torch.full((30,), 0.7), beta=torch.full((30,), 0.9),
                                        threshold=torch.ones(30), init_hidden=True),
        nn.Linear(30, 10), snn.RLeaky(beta=torch.full((10,), 0.85), threshold=torch.ones(10), linear_features=10,
                                      init_hidden=True))
    conv = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), snn.Leaky(beta=torch.full((4, 8, 8), 0.9),
                                                                  threshold=torch.ones(4, 8, 8), init_hidden=True),
                         nn.AvgPool2d(2), nn.Flatten(), nn.Linear(64, 10),
                         snn.Leaky(beta=torch.full((10,), 0.8), threshold=torch.ones(10), init_hidden=True))
    with torch.no_grad():
        for net in (synaptic, conv):
            for layer in net:
                if isinstance(layer, (nn.Linear, nn.Conv2d)):
                    layer.weight.mul_(3.0)
    # export_to_nir's final type inference fails on Conv2d in snnTorch 1.0 / NIR 1.0.8; take the graph it extracts
    conv_graph = nirtorch.extract_nir_graph(conv, _extract_snntorch_module, torch.zeros(1, 2, 8, 8),
                                            ignore_submodules_of=[snn.RLeaky, snn.RSynaptic])
    synaptic_graph = export_to_nir(synaptic, torch.zeros(20))
    kinds = {type(p.synapse).__name__ for p in from_nir(synaptic_graph, dt=DT).projections.values()}
    assert kinds == {"ExponentialCurrent", "Delta"}  # CubaLIF layer, then LIF with a recurrent Affine
    for net, shape, graph in ((synaptic, (20,), synaptic_graph), (conv, (2, 8, 8), conv_graph)):
        x = input_spikes(shape, steps=200)
        reference = snntorch_spikes(net, x.float())
        assert all(s.sum() > 20 for s in reference.values())
        assert_matches_snntorch(graph, reference, x[:, 0].numpy(), BACKENDS[:1])


def test_nested_subgraph_imports_like_its_flat_graph():
    # snnTorch's RLeaky as a NIR subgraph (the form snnTorch's exporter builds before nirtorch inlines it)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(20, 30), snn.RLeaky(beta=torch.full((30,), 0.9), threshold=torch.ones(30),
                                                      linear_features=30, init_hidden=True))
    with torch.no_grad():
        net[0].weight.mul_(3.0)
    flat = export_to_nir(net, torch.zeros(20))
    inner = nir.NIRGraph(nodes={"input": nir.Input(np.array([30])), "lif": flat.nodes["1.lif"],
                                "w_rec": flat.nodes["1.w_rec"], "output": nir.Output(np.array([30]))},
                         edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")],
                         type_check=False)
    nested = nir.NIRGraph(nodes={"input": flat.nodes["input"], "0": flat.nodes["0"], "1": inner,
                                 "output": flat.nodes["output"]},
                          edges=[("input", "0"), ("0", "1"), ("1", "output")], type_check=False)
    x = input_spikes((20,), steps=200)
    reference = snntorch_spikes(net, x.float())
    assert reference[1].sum() > 100
    assert nir_latency(nested) == nir_latency(flat) == {"lif_1_lif": 1}
    assert_matches_snntorch(nested, reference, x[:, 0].numpy(), BACKENDS[:1])


def test_if_node_against_a_reference_loop():
    # nir.IF: v[t] = v[t-1] + r dt (W x[t]) - v_threshold z[t-1], stepped by hand.
    rng = np.random.default_rng(3)
    w = rng.uniform(-0.2, 1.0, (5, 8))
    r = np.full(5, 1.0 / DT)
    graph = nir.NIRGraph(nodes={"x": nir.Input(np.array([8])), "w": nir.Linear(weight=w),
                                "if": nir.IF(r=r, v_threshold=np.full(5, 1.5)), "y": nir.Output(np.array([5]))},
                         edges=[("x", "w"), ("w", "if"), ("if", "y")])
    x = rng.random((400, 8)) < 0.1
    v, z, expected = np.zeros(5), np.zeros(5), []
    for t in range(400):
        v = v + w @ x[t] - 1.5 * z
        z = (v > 1.5).astype(float)
        expected.append(z > 0)
    expected = np.array(expected)
    assert expected.sum() > 50
    assert_matches_snntorch(graph, {0: expected}, x)


# --- what NIR cannot hold --------------------------------------------------

def two_populations(**connect) -> na.Network:
    net = na.Network(dt=DT)
    net.add_input("inp", 4, na.SpikeArray())
    net.add_population("a", 3)
    net.connect("inp", "a", weight=0.5, name="proj", **connect)
    return net


@pytest.mark.parametrize("connect,match", [
    ({"plasticity": na.plasticity.STDP()}, r"projection 'proj' is plastic \(STDP\)"),
    ({"delay": 1e-3}, r"projection 'proj' has a delay of 10 steps"),
    ({"synapse": na.ExponentialConductance(5e-3, E_rev=0.0)}, r"projection 'proj' is conductance-based"),
    ({"synapse_model": na.SynapseModel("w : 1", on_pre="v_post += w")}, r"'proj' has synapses written as equations"),
], ids=["plastic", "delayed", "conductance", "equations"])
def test_export_refuses_what_nir_cannot_hold(connect, match):
    with pytest.raises(ValueError, match=match):
        to_nir(two_populations(**connect))


def test_export_refuses_other_models_and_refractoriness():
    net = na.Network(dt=DT)
    net.add_population("izh", 2, na.Izhikevich())
    with pytest.raises(ValueError, match="population 'izh' is Izhikevich; NIR holds LIF neurons only"):
        to_nir(net)
    net = na.Network(dt=DT)
    net.add_population("ref", 2, na.LIF(t_ref=2e-3))
    with pytest.raises(ValueError, match="population 'ref' has a refractory period"):
        to_nir(net)


def test_import_needs_dt_and_representable_nodes():
    graph = export_to_nir(leaky_sequential(per_neuron=True), torch.zeros(20))
    with pytest.raises(ValueError, match="records no time step.*pass dt="):
        from_nir(graph)
    with pytest.raises(ValueError, match=r"beta = 1 - dt/tau = .* needs exp\(-1\) < beta"):
        from_nir(graph, dt=1e-3)  # not the step the exporter assumed: beta = 1 - 10 (1 - 0.9) = 0
    with pytest.raises(ValueError, match="disagrees with the dt the graph records"):
        from_nir(to_nir(small_network()), dt=1e-3)
    li = nir.NIRGraph(nodes={"x": nir.Input(np.array([3])), "li": nir.LI(tau=np.ones(3), r=np.ones(3),
                                                                           v_leak=np.zeros(3))},
                      edges=[("x", "li")])
    with pytest.raises(ValueError, match="node 'li' is a nir.LI, which neuroai cannot represent"):
        from_nir(li, dt=DT)


# --- neuroai -> NIR -> snnTorch (snnTorch's own import_from_nir) ------------

def cuba_network(dt=DT, layers=2, recurrent=False, rest=0.0, i_bias=0.0) -> na.Network:
    """What snnTorch's importer can reproduce: populations fed by one
    ExponentialCurrent (nir.CubaLIF), reset to rest by value, consecutive
    layers, self-projections; every population monitored."""
    cur = na.ExponentialCurrent(5e-3, "I_exc")
    net = na.Network(dt=dt)
    net.add_input("inp", 20, na.SpikeArray())
    net.add_population("a", 30, na.LIF(tau_m=10e-3, v_rest=rest, i_bias=i_bias, v_reset=rest + i_bias),
                       v_init=rest + i_bias)
    net.connect("inp", "a", na.FixedProbability(0.5, seed=2), weight=na.Uniform(0.05, 0.8, seed=3), synapse=cur)
    if recurrent:
        net.connect("a", "a", weight=na.Uniform(-0.3, 0.15, seed=8), synapse=cur)
    net.monitor("a")
    if layers == 2:
        net.add_population("b", 10, na.LIF(tau_m=15e-3, R=2.0))
        net.connect("a", "b", weight=na.Uniform(0, 0.5, seed=4), synapse=cur, sign="excitatory")
        net.connect("a", "b", na.FixedProbability(0.3, seed=5), weight=na.Uniform(0, 0.4, seed=6), synapse=cur,
                    sign="inhibitory", name="a_inhibits_b")
        net.monitor("b")
    return net


@contextlib.contextmanager
def fails_instead_of_hanging(seconds=30):
    """nirtorch's graph construction loops forever on a graph with two Output
    nodes: turn a hang into a failure (SIGALRM interrupts the Python loop)."""
    def hang(*_):
        raise TimeoutError(f"did not finish in {seconds} s")
    previous = signal.signal(signal.SIGALRM, hang)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def snntorch_import(graph) -> nn.Module:
    with fails_instead_of_hanging(), contextlib.redirect_stdout(io.StringIO()):  # the importer prints
        return import_from_nir(graph)


def snntorch_output(module: nn.Module, x: np.ndarray) -> np.ndarray:
    """The graph's Output (T, n) for input spikes x (T, n_in), stepped by nirtorch."""
    state, out = None, []
    with torch.no_grad():
        for t in range(len(x)):
            y, state = module(torch.as_tensor(x[t:t + 1], dtype=torch.float32), state)
            out.append(y[0].numpy() > 0)
    return np.array(out)


def assert_snntorch_reproduces(net, backends=BACKENDS[:1], steps=400, min_spikes=100):
    """snnTorch's import of to_nir(net, target="snntorch") fires as neuroai
    does, each population nir_latency steps earlier; returns the graph."""
    graph = to_nir(net, target="snntorch")
    assert sum(isinstance(n, nir.Output) for n in graph.nodes.values()) == 1
    latency = nir_latency(graph)
    x = raster(steps, 20, seed=3)
    got = snntorch_output(snntorch_import(graph), x)
    slices = graph.metadata["output"]
    assert [s["source"] for s in slices.values()] == [m.target for m in net.monitors]
    assert got.shape == (steps, sum(net.size(s["source"]) for s in slices.values()))
    lag = max(latency.values())
    padded = np.concatenate([x, np.zeros((lag, 20), dtype=bool)])
    for backend, opts in backends:
        result = na.Simulator(net, backend, seed=0, **opts).run((steps + lag) * net.dt, {"inp": padded})
        for s in slices.values():
            name, d = s["source"], latency[s["source"]]
            expected = result.raster(name)
            assert not expected[:d].any() and expected.sum() > min_spikes
            np.testing.assert_array_equal(got[:, s["start"]:s["stop"]], expected[d:d + steps],
                                          err_msg=f"{backend}: spikes of {name} in snnTorch")
    return graph


@pytest.mark.parametrize("dt", [DT, 1e-3, 5e-5], ids=["dt=1e-4", "dt=1e-3", "dt=5e-5"])
def test_snntorch_import_reproduces_two_layers_and_two_outputs(dt):
    # snnTorch's importer fixes dt = 1e-4 s: the layout writes time constants for that step at any dt
    backends = BACKENDS if dt != 5e-5 else BACKENDS[:1]
    graph = assert_snntorch_reproduces(cuba_network(dt), backends, min_spikes=50)
    assert graph.metadata["nir_dt"] == 1e-4 and graph.metadata["dt"] == dt
    beta = np.exp(-dt / 10e-3)
    np.testing.assert_allclose(1 - 1e-4 / graph.nodes["a"].tau_mem, beta)  # snnTorch's beta is neuroai's decay
    np.testing.assert_allclose(graph.nodes["a"].r, graph.nodes["a"].tau_mem / 1e-4)  # the r snnTorch accepts
    assert {k: (s["start"], s["stop"]) for k, s in graph.metadata["output"].items()} == {"0": (0, 30), "1": (30, 40)}


def test_snntorch_import_reproduces_recurrence_and_voltage_offsets():
    # a self-projection (through an identity Linear, so snnTorch's importer keeps it a plain recurrence) and a
    # population resting at v_rest + R i_bias != 0 (written from rest, as snnTorch's v_leak = 0 demands)
    graph = assert_snntorch_reproduces(cuba_network(layers=1, recurrent=True, rest=-0.2, i_bias=0.1))
    assert ("a", "a_to_a") in graph.edges and ("a_to_a", "a_to_a_loop") in graph.edges
    np.testing.assert_array_equal(graph.nodes["a_to_a_loop"].weight, np.eye(30))
    np.testing.assert_allclose(graph.nodes["a"].v_threshold, 1.0 - (-0.2 + 0.1))
    assert list(graph.metadata["output"].values()) == [{"source": "a", "start": 0, "stop": 30}]
    assert ("a", "output") in graph.edges  # one monitored population: read directly
    assert_snntorch_reproduces(cuba_network(dt=1e-3, recurrent=True), min_spikes=50)


def test_snntorch_layout_round_trips_through_neuroai_and_files(tmp_path):
    net = cuba_network(dt=1e-3, recurrent=True, rest=-0.2, i_bias=0.1)
    graph = to_nir(net, target="snntorch")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # rebuilt from metadata against the snnTorch layout
        exact = from_nir(graph)
    assert exact.populations["a"].model == net.populations["a"].model and exact.dt == 1e-3
    path = tmp_path / "snntorch.nir"
    nir.write(path, graph)
    stripped = nir.read(path)
    for node in stripped.nodes.values():
        node.metadata.pop("neuroai", None)  # keep dt, nir_dt and reset
    stripped.metadata = {}
    generic = from_nir(stripped)  # from the NIR parameters, reading time constants at nir_dt
    assert generic.dt == 1e-3 and [m.target for m in generic.monitors] == ["a", "b"]
    assert nir_latency(stripped) == {"a": 1, "b": 2}
    spikes = {"inp": raster(500, 20, seed=4)}
    original = run_dt(net, spikes)
    assert original.spike_count("a") > 50 and original.spike_count("b") > 50
    for back in (exact, generic):
        assert_same_spikes(original, run_dt(back, spikes), ["a", "b"])
    out = snntorch_output(snntorch_import(nir.read(path)), spikes["inp"][:100])
    np.testing.assert_array_equal(out[:, :30], original.raster("a")[1:101])  # the file imports in snnTorch too


def run_dt(net, inputs):
    return na.Simulator(net, "torch", seed=0, dtype="float64").run(len(inputs["inp"]) * net.dt, inputs)


def unrepresentable(case: str) -> na.Network:
    net = cuba_network()
    cur = na.ExponentialCurrent(5e-3, "I_exc")
    if case == "delta":
        return small_network()
    if case in ("subtract", "value", "v_init"):
        net = na.Network(dt=DT)
        net.add_input("inp", 4, na.SpikeArray())
        model = {"subtract": na.LIF(reset="subtract"), "value": na.LIF(v_reset=-0.5), "v_init": na.LIF()}[case]
        net.add_population("a", 3, model, v_init=0.3 if case == "v_init" else 0.0)
        net.connect("inp", "a", weight=0.5, synapse=cur)
        net.monitor("a")
    elif case == "two inputs":
        net.add_input("other", 2, na.SpikeArray())
        net.connect("other", "a", weight=0.5, synapse=cur)
    elif case == "skip":
        net.connect("inp", "b", weight=0.5, synapse=cur)
    elif case == "loop":
        net.connect("b", "a", weight=0.5, synapse=cur)
    elif case == "no input":
        net.add_population("c", 2)
        net.connect("c", "c", weight=0.5, synapse=cur)
        net.monitor("c")
    elif case == "unmonitored leaf":
        net.add_population("c", 2)
        net.connect("a", "c", weight=0.5, synapse=cur)
    elif case == "no monitors":
        net = na.Network(dt=DT)
        net.add_input("inp", 4, na.SpikeArray())
        net.add_population("a", 3)
        net.connect("inp", "a", weight=0.5, synapse=cur)
    return net


@pytest.mark.parametrize("case,match", [
    ("delta", r"population 'a' takes delta synapses.*ExponentialCurrent"),
    ("subtract", r"population 'a' resets by subtraction.*use reset='value'"),
    ("value", r"population 'a' resets to v_reset=-0.5.*v_reset = v_rest \+ R\*i_bias \(0.0\)"),
    ("v_init", r"population 'a' does not start at rest"),
    ("two inputs", r"2 inputs \['inp', 'other'\].*exactly one Input node"),
    ("skip", r"projection 'inp_to_b' skips from depth 0 to 2"),
    ("loop", r"projection 'b_to_a' closes a loop through several populations"),
    ("no input", r"population 'c' receives no projection from the input or another population"),
    ("unmonitored leaf", r"population 'c' feeds no other population and is not monitored"),
    ("no monitors", r"monitors no spikes"),
])
def test_snntorch_target_refuses_what_snntorch_cannot_reproduce(case, match):
    net = unrepresentable(case)
    with pytest.raises(ValueError, match=match):
        to_nir(net, target="snntorch")
    if case not in ("two inputs", "no monitors"):
        to_nir(net)  # the neuroai layout holds it


def test_to_nir_checks_target():
    with pytest.raises(ValueError, match=r"'target' must be one of \['neuroai', 'snntorch'\], got 'norse'"):
        to_nir(cuba_network(), target="norse")
