"""Bad input fails where it enters, naming the object, parameter, expectation and value."""
import math
import os

import numpy as np
import pytest
import torch

import neuroai as na
from neuroai.backends.torch import TorchNetwork
from neuroai.data import read_idx


@pytest.fixture
def net():
    net = na.Network(dt=1e-4)
    net.add_input("inp", 4, na.PoissonRate(100.0))
    net.add_population("p", 3)
    return net


@pytest.mark.parametrize("n, exc, text", [
    (0, ValueError, "'n' must be >= 1, got 0"),
    (-5, ValueError, "'n' must be >= 1, got -5"),
    (2.5, TypeError, "'n' must be an integer, got 2.5"),
])
def test_population_size(net, n, exc, text):
    with pytest.raises(exc, match=f"Population 'q': parameter {text}"):
        net.add_population("q", n)


@pytest.mark.parametrize("kwargs, text", [
    (dict(tau_m=-0.01), "LIF: parameter 'tau_m' must be > 0, got -0.01"),
    (dict(tau_m=float("nan")), "LIF: parameter 'tau_m' must be finite, got nan"),
    (dict(v_th=float("inf")), "LIF: parameter 'v_th' must be finite, got inf"),
    (dict(t_ref=-1e-3), "LIF: parameter 't_ref' must be >= 0, got -0.001"),
    (dict(R=0.0), "LIF: parameter 'R' must be > 0, got 0.0"),
    (dict(reset="zero"), "LIF: parameter 'reset' must be one of \\['value', 'subtract'\\], got 'zero'"),
    (dict(v_th=0.0, v_reset=0.5), "LIF: v_th \\(0.0\\) must be greater than v_reset \\(0.5\\)"),
])
def test_lif_parameters(kwargs, text):
    with pytest.raises((ValueError, TypeError), match=text):
        na.LIF(**kwargs)


def test_dt_larger_than_time_constants():
    net = na.Network(dt=2e-3)
    with pytest.raises(ValueError, match=r"Population 'p': dt \(0.002 s\) must be smaller than .* tau_m \(0.001 s\)"):
        net.add_population("p", 3, na.LIF(tau_m=1e-3))
    net.add_population("q", 3)
    with pytest.raises(ValueError, match=r"dt \(0.002 s\) must be smaller than the synaptic time constant tau"):
        net.connect("q", "q", synapse=na.ExponentialCurrent(tau=1e-3))
    with pytest.raises(ValueError, match="Network: parameter 'dt' must be > 0, got 0.0"):
        na.Network(dt=0.0)


def test_weight_shapes_and_signs(net):
    with pytest.raises(ValueError, match=r"Projection 'inp_to_p': parameter 'weight' must be of shape \(4, 3\), got shape \(3, 4\)"):
        net.connect("inp", "p", weight=np.ones((3, 4)))
    with pytest.raises(ValueError, match=r"parameter 'weight' must be of shape \(12,\), got shape \(5,\)"):
        net.connect("inp", "p", weight=np.ones(5))
    with pytest.raises(ValueError, match="parameter 'weight' must be finite everywhere"):
        net.connect("inp", "p", weight=np.full((4, 3), np.nan))
    with pytest.raises(ValueError, match="with sign='inhibitory' weights are magnitudes and must be >= 0"):
        net.connect("inp", "p", weight=-0.5, sign="inhibitory")
    with pytest.raises(ValueError, match="parameter 'sign' must be one of"):
        net.connect("inp", "p", sign="positive")
    with pytest.raises(ValueError, match="parameter 'delay' must be >= 0, got -0.001"):
        net.connect("inp", "p", delay=-1e-3)


def test_references_names_and_patterns(net):
    with pytest.raises(ValueError, match="'pre' must name a population or input of this network, got 'nope'"):
        net.connect("nope", "p")
    with pytest.raises(ValueError, match="'post' must name a population of this network, got 'inp'"):
        net.connect("p", "inp")
    with pytest.raises(ValueError, match="the name 'p' is already used"):
        net.add_input("p", 2)
    with pytest.raises(ValueError, match="parameter 'name' must be a Python identifier"):
        net.add_population("my pop", 2)
    with pytest.raises(ValueError, match="OneToOne: needs equal sizes, got 4 pre and 3 post"):
        net.connect("inp", "p", na.OneToOne())
    with pytest.raises(ValueError, match=r"FixedProbability: parameter 'p' must be in \[0, 1\], got 1.5"):
        na.FixedProbability(1.5)
    with pytest.raises(ValueError, match="Uniform: 'high' \\(0.0\\) must be >= 'low' \\(1.0\\)"):
        na.Uniform(1.0, 0.0)
    with pytest.raises(ValueError, match="'variable' must be one of \\['spikes', 'v'\\], got 'u'"):
        net.monitor("p", "u")


def test_current_name_conflict(net):
    net.connect("inp", "p", synapse=na.ExponentialCurrent(5e-3))
    with pytest.raises(ValueError, match="current 'I_syn' of population 'p' already has tau=0.005 s"):
        net.connect("inp", "p", synapse=na.ExponentialCurrent(2e-3))
    with pytest.raises(ValueError, match="must differ from the target's tau_m"):
        net.connect("inp", "p", synapse=na.ExponentialCurrent(20e-3, "I_b"))


def test_unknown_backend_and_options(net):
    with pytest.raises(ValueError, match="Simulator: 'backend' must be one of \\['brian2', 'torch', 'nest'\\], got 'nengo'"):
        na.Simulator(net, "nengo")
    with pytest.raises(ValueError, match="'dtype' must be 'float32' or 'float64', got 'float16'"):
        na.Simulator(net, "torch", dtype="float16")
    with pytest.raises(ValueError, match="'target' must be 'numpy', 'cython' or 'cpp_standalone' .*, got 'cpp'"):
        na.Simulator(net, "brian2", target="cpp")
    with pytest.raises(TypeError, match="'network' must be a neuroai.Network, got dict"):
        na.Simulator({}, "torch")


def test_run_inputs(net):
    sim = na.Simulator(net, "torch")
    with pytest.raises(ValueError, match="'inputs' names unknown inputs \\['x'\\]"):
        sim.run(0.01, inputs={"x": np.ones(4)})
    with pytest.raises(ValueError, match="input 'inp' expects values of shape \\(4,\\)"):
        sim.run(0.01, inputs={"inp": np.ones(5)})
    with pytest.raises(ValueError, match="stimulus values must lie in \\[0, 1\\], got values in \\[0.0, 2.0\\]"):
        sim.run(0.01, inputs={"inp": np.array([0, 1, 2, 1.0])})
    with pytest.raises(TypeError, match="stimulus values must be a real array, got dtype <U1"):
        sim.run(0.01, inputs={"inp": np.array(list("abcd"))})
    with pytest.raises(ValueError, match="'duration' must be > 0, got -1.0"):
        sim.run(-1.0)
    with pytest.raises(ValueError, match="shorter than one step"):
        sim.run(1e-6)
    with pytest.raises(ValueError, match="max_rate \\* dt = 2.0 exceeds 1 spike per step"):
        na.PoissonRate(20000.0).encode(np.ones(4), 10, 1e-4, np.random.default_rng())


def test_spike_array_input_shape_and_dtype():
    net = na.Network(dt=1e-3)
    net.add_input("raw", 3, na.SpikeArray())
    net.add_population("p", 2)
    net.connect("raw", "p")
    sim = na.Simulator(net, "brian2")
    with pytest.raises(ValueError, match=r"SpikeArray: spikes must have shape \(steps=10, \.\.\., n\), got \(9, 3\)"):
        sim.run(0.01, inputs={"raw": np.zeros((9, 3), bool)})
    with pytest.raises(TypeError, match="SpikeArray: spikes must be boolean or 0/1, got dtype float64"):
        sim.run(0.01, inputs={"raw": np.full((10, 3), 0.5)})


def test_torch_module_inputs(net):
    import torch
    model = TorchNetwork(net)
    with pytest.raises(ValueError, match=r"input 'inp' must be a tensor of shape \(time, batch, 4\), got \(10, 4\)"):
        model({"inp": torch.zeros(10, 4)})
    with pytest.raises(ValueError, match="missing \\['inp'\\]"):
        model({}, steps=5)
    spikes = torch.zeros(10, 2, 4)
    for bad, exc, text in ((spikes + float("nan"), ValueError, "input 'inp' must be finite, got NaN or inf"),
                           (spikes - 1, ValueError, "input 'inp' must be >= 0 .* got minimum -1.0"),
                           (spikes.to(torch.complex64), TypeError, "must hold real spikes .* got dtype torch.complex64")):
        with pytest.raises(exc, match=text):
            model({"inp": bad})
    assert model({"inp": spikes.bool()}).spikes["p"].shape == (10, 2, 3)  # bool and integer spikes are fine
    with pytest.raises(TypeError, match="'record' must be a tuple of population names, got 'p'"):
        model({"inp": spikes}, record="p")
    with pytest.raises(ValueError, match="'record' names unknown populations \\['q'\\]"):
        model({"inp": spikes}, record=("q",))
    with pytest.raises(TypeError, match="'state' must be a TorchState .* got str"):
        model({"inp": spikes}, state="s")
    with pytest.raises(TypeError, match="'network' must be a neuroai.Network, got int"):
        TorchNetwork(3)
    with pytest.raises(ValueError, match="'device' must be 'cpu', 'cuda', 'cuda:N' or a torch.device, got 'gpu0'"):
        TorchNetwork(net, device="gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="parameter 'device' is 'cuda' but this torch .* sees no CUDA device"):
            TorchNetwork(net, device="cuda")


def test_synaptic_variables_must_not_shadow_state_variables():
    net = na.Network(dt=1e-4)
    net.add_input("inp", 4)
    net.add_population("izh", 3, na.Izhikevich())
    with pytest.raises(ValueError, match="the synaptic variable 'u' would clash with the state variable of that name "
                                         "of population 'izh' \\(Izhikevich: \\['v', 'u'\\]\\)"):
        net.connect("inp", "izh", synapse=na.ExponentialCurrent(5e-3, "u"))


def test_brian2_errors_name_the_part_and_give_the_cause(monkeypatch):
    """An error inside Brian2 (here: a rule translation given inconsistent
    units, as multiplicative STDP once was) becomes a neuroai BackendError
    naming the user's projection and quoting Brian2's own message."""
    import brian2 as b2

    from neuroai.backends import brian2 as backend
    from neuroai.plasticity import STDP

    translate = backend._RULES[STDP]

    def squared_amplitude(rule, w_unit):
        model, on_pre, on_post, namespace = translate(rule, w_unit)
        return model, on_pre, on_post, {**namespace, "a_plus": rule.a_plus * b2.volt ** 2}

    monkeypatch.setitem(backend._RULES, STDP, squared_amplitude)
    net = na.Network(dt=1e-4)
    net.add_input("inp", 5)
    net.add_population("pyr", 3, na.LIF.physical())
    net.connect("inp", "pyr", weight=1e-3, plasticity=STDP(w_max=2e-3), name="learned")
    sim = na.Simulator(net, "brian2")
    with pytest.raises(na.BackendError, match=r"projection 'learned' failed in Brian2 with DimensionMismatchError: "
                                              r"Expression 'weight \+ a_plus \* apre' uses inconsistent units"):
        sim.run(1e-3)


BANNER = "Brian 2 encountered an unexpected error"


@pytest.mark.parametrize("code, banner", [
    ("raise KeyError('not brian2')", False),
    ("import neuroai as na; net = na.Network(); net.add_population('p', 1); net.monitor('nope')", False),
    ("import brian2 as b; g = b.NeuronGroup(1, 'dv/dt = -v : volt'); b.run(b.ms)", True),  # Brian2's own: its banner
])
def test_brian2_error_banner_only_for_brian2s_own_errors(tmp_path, code, banner):
    """Importing the Brian2 backend leaves uncaught errors that are not
    Brian2's to Python's handler: no banner asking to report them to Brian2,
    no debug log kept in the temporary folder."""
    import subprocess
    import sys

    tmp = tmp_path / "tmp"
    tmp.mkdir()
    out = subprocess.run([sys.executable, "-c", f"import neuroai.backends.brian2\n{code}"], capture_output=True,
                         text=True, env={**os.environ, "TMPDIR": str(tmp)}, timeout=120)
    assert out.returncode == 1 and "Traceback" in out.stderr
    assert (BANNER in out.stderr) == banner, out.stderr[-2000:]
    kept = [p.name for p in tmp.iterdir() if p.name.startswith("brian_debug")]
    assert bool(kept) == banner, kept


def test_what_would_not_fit_in_memory_fails_at_once_with_the_estimate(net, monkeypatch):
    from neuroai import validation

    monkeypatch.setattr(validation, "available_memory", lambda: 2**30)  # 1 GiB free, whatever the machine has
    with pytest.raises(MemoryError, match=r"Population 'huge': 100000000 neurons would need about 5.96 GiB, more "
                                          r"than the 1 GiB of memory free; use fewer neurons"):
        net.add_population("huge", 10**8)
    net.add_population("big", 20_000)
    with pytest.raises(MemoryError, match=r"4e\+08 synapses \(20000 x 20000, AllToAll\) would need about 17.9 GiB"
                                          r".*use sparser connectivity"):
        net.connect("big", "big", na.AllToAll())
    assert net.connect("big", "big", na.FixedProbability(1e-4, seed=0)).n_synapses > 0  # 40,000: fits
    net.monitor("big", "v")
    with pytest.raises(MemoryError, match=r"Simulator: a run of 10000000 steps \(1000 s\) would need about 2.98e\+03 "
                                          r"GiB.*run it in shorter pieces"):
        na.Simulator(net, "torch").run(1000.0)
    with pytest.raises(ValueError, match=r"'duration' must be at most 2147483647 steps of dt=0.0001 s, got 1e\+30 s"):
        na.Simulator(net, "torch").run(1e30)


def diverging_izhikevich() -> na.Network:
    """Finite parameters (a huge a and d) that drive u and v to overflow within the first 500 steps."""
    net = na.Network(dt=1e-4)
    net.add_input("inp", 10, na.PoissonRate(200.0))
    net.add_population("iz", 5, na.Izhikevich(a=1e6, d=1e9))
    net.connect("inp", "iz", na.AllToAll(), weight=5.0)
    net.monitor("iz", "v", every=100)
    return net


@pytest.mark.parametrize("backend, options", [("brian2", {}), ("torch", {}), ("torch", {"dtype": "float64"})])
def test_a_state_driven_beyond_floating_point_stops_the_run_naming_population_variable_and_time(backend, options):
    sim = na.Simulator(diverging_izhikevich(), backend, seed=0, **options)
    with pytest.raises(na.NonFiniteState, match=r"\(\w+\): population 'iz' variable '[uv]' is NaN or infinite at "
                                                 r"t = 0.05 s \(step 500; every variable was finite at t = 0 s\).*"
                                                 r"check_finite=False"):
        sim.run(0.2)
    assert sim.t < 0.06  # stopped at the first check, not run to the end


@pytest.mark.parametrize("backend", ["brian2", "torch"])
def test_check_finite_false_runs_on_regardless(backend):
    sim = na.Simulator(diverging_izhikevich(), backend, seed=0, check_finite=False)
    v = sim.run(0.2).trace("iz.v").values
    assert sim.t == pytest.approx(0.2) and not np.isfinite(v).all()


@pytest.mark.parametrize("backend", ["brian2", "torch"])
def test_a_projection_variable_that_overflows_is_named_at_the_first_check_after_it(backend):
    net = na.Network(dt=1e-4)
    net.add_input("inp", 2, na.PoissonRate(10.0))
    net.add_population("p", 2)
    growth = na.SynapseModel("w : 1\ndx/dt = r*x : 1 (clock-driven)", on_pre="v_post += w", method="euler",
                             parameters={"r": 3e4}, init={"x": 1.0})  # euler: x is multiplied by 1 + r dt = 4
    net.connect("inp", "p", na.AllToAll(), weight=0.1, synapse_model=growth)
    overflow = math.floor(math.log(np.finfo(np.float64).max, 4)) + 1  # the first step at which 4**k is inf
    check, previous = -(-overflow // 500) * 500, (overflow // 500) * 500
    with pytest.raises(na.NonFiniteState, match=rf"projection 'inp_to_p' variable 'x' is NaN or infinite at "
                                                 rf"t = {check * 1e-4:g} s \(step {check}; every variable was "
                                                 rf"finite at t = {previous * 1e-4:g} s\)"):
        na.Simulator(net, backend, seed=0, dtype="float64").run(0.15) if backend == "torch" else \
            na.Simulator(net, backend, seed=0).run(0.15)


@pytest.mark.parametrize("call, exc, text", [
    (lambda net: na.Simulator(net, "torch", check_finite="yes"), TypeError,
     "Simulator: parameter 'check_finite' must be True or False, got 'yes'"),
    (lambda net: na.Simulator(net, "torch").run(1e-3, progress="yes"), TypeError,
     "Simulator.run: parameter 'progress' must be True or False, got 'yes'"),
    (lambda net: na.Simulator(net, "torch", seed=2 ** 32), ValueError,
     "Simulator: parameter 'seed' must be at most 4294967295 (2**32 - 1), got 4294967296"),
    (lambda net: net.add_population("q", 3, v_init=True), TypeError,
     "Population 'q': parameter 'v_init' must be a real array of shape (3,), got dtype bool"),
    (lambda net: net.connect("inp", "p", weight=True), TypeError,
     "Projection 'inp_to_p': parameter 'weight' must be a real array of shape (12,), got dtype bool"),
    (lambda net: net.add_population("q", 3, na.AdaptiveLIF(), init="theta"), TypeError,
     "Population 'q': parameter 'init' must be a mapping of variable -> scalar or array of shape (3,)"),
    (lambda net: net.add_population("q", 3, na.LIF(t_ref=2.2e16)), ValueError,
     "Population 'q': parameter 't_ref' must be at most 2147483647 steps of dt=0.0001 s, got 2.2e+16 s"),
    (lambda net: net.add_population("q", 3, na.NeuronModel("dv/dt = -v / (10*ms) : 1", threshold="v > 1",
                                                           reset="v = 0", refractory=1e12)), ValueError,
     "Population 'q': parameter 'refractory' must be at most 2147483647 steps"),
    (lambda net: net.with_initial_state({"nope": {"v": 0.0}}), ValueError,
     "Network.with_initial_state: parameter 'state' names no population ['nope']; the populations are ['p']"),
    (lambda net: TorchNetwork(net)(torch.zeros(5, 1, 4)), TypeError,
     "TorchNetwork: 'inputs' must be a mapping of input name -> spike tensor (time, batch, n) for the inputs "
     "['inp'], got Tensor"),
    (lambda net: net.add_population("q", 2, v_init=[[0.1, 0.2], [0.3]]), TypeError,
     "Population 'q': parameter 'v_init' must be a real array of shape (2,), got a ragged list"),
    (lambda net: TorchNetwork(net, device=2 ** 63), ValueError,
     "TorchNetwork: parameter 'device' must be 'cpu', 'cuda', 'cuda:N' or a torch.device, got 9223372036854775808"),
    (lambda net: net.add_population("q", 2, na.LIF(reset=torch.zeros(2))), ValueError,
     "LIF: parameter 'reset' must be one of ['value', 'subtract'], got tensor([0., 0.])"),
    (lambda net: na.Explicit([[True], [False, True]]), TypeError,
     "Explicit: parameter 'mask' must be a boolean array of shape (n_pre, n_post), got a ragged list"),
    (lambda net: na.Explicit(np.ones((4, 3))), TypeError,
     "Explicit: parameter 'mask' must be a boolean array of shape (n_pre, n_post), got dtype float64"),
    (lambda net: net.connect("inp", "p", weight=[[0.1, 0.2], [0.3]]), TypeError,
     "Projection 'inp_to_p': parameter 'weight' must be a real array of shape (12,), got a ragged list"),
    (lambda net: na.Simulator(net, "torch").run(1e-3, inputs={3: 0.5, "x": 0.5}), ValueError,
     "Simulator: 'inputs' names unknown inputs ['x', 3]; the network has ['inp']"),
    (lambda net: read_idx("images\0.idx"), ValueError,
     "read_idx: parameter 'path' must be a file path without NUL characters, got 'images\\x00.idx'"),
])
def test_a_mistaken_argument_is_refused_where_it_enters(net, call, exc, text):
    with pytest.raises(exc) as info:
        call(net)
    assert text in str(info.value)
