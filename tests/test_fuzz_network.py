"""Fuzz tests of the spiking-network front end and its backends: neuron models, encoders, building a
Network (populations, inputs, projections, connectivity, initializers, synapses, plasticity, monitors),
running it (Simulator on the torch backend, a few tiny Brian2 runs, TorchNetwork.forward) and the user's
own equations (NeuronModel, SynapseModel).

Every generated input must be accepted, and then give finite numbers (or stop with NonFiniteState when a
run diverges), or be refused with a neuroai error naming the owner and the argument (see fuzzing.py)."""
import dataclasses
import math

import brian2 as b2
import numpy as np
import pytest
import torch
from fuzzing import ANYTHING, NUMBERS, assert_finite, attempt, fuzz_settings
from hypothesis import given
from hypothesis import strategies as st
from snntorch import surrogate as snn_surrogate

import neuroai as na
from neuroai import plasticity
from neuroai.backends.torch import TorchNetwork

pytestmark = pytest.mark.usefixtures("one_thread")

#: Brian2 quantities of assorted dimensions (some right for a parameter, most wrong).
QUANTITIES = st.sampled_from([20 * b2.ms, 5 * b2.mV, -70 * b2.mV, 1 * b2.nA, 3 * b2.Hz, 2 * b2.nS, 200 * b2.pF,
                              b2.Quantity(2.0), np.array([1.0, 2.0]) * b2.ms])
#: Scalings of a parameter's default: plausible, extreme, negative.
SCALES = st.sampled_from([0.0, -1.0, 0.5, 2.0, 10.0, 1e3, 1e6, 1e12, -1e6, 1e30])
#: Population and input sizes: small, impossible, or not sizes at all.
SIZES = st.one_of(st.integers(1, 4), st.sampled_from([0, -1, 2 ** 31, 2 ** 40, 2 ** 63, 10 ** 30, True, 2.0, "3",
                                                      None, np.int64(2), [2]]))


def values_near(default):
    """A value for a parameter whose default is ``default``: mostly a scaled default, else anything."""
    if isinstance(default, str):
        return st.one_of(st.sampled_from(["value", "subtract", "dimensionless", "physical", "on", "off", "both",
                                          "previous", "last_event", "linear", "log", "additive",
                                          "multiplicative"]), ANYTHING)
    if isinstance(default, bool):
        return st.one_of(st.booleans(), ANYTHING)
    base = float(default) if default else 1.0
    scaled = SCALES.map(lambda s: base * s)
    return st.one_of(scaled, scaled, st.floats(-10, 10).map(lambda s: base * s), NUMBERS, ANYTHING, QUANTITIES)


def init_fields(cls):
    """(name, default) of the constructor arguments of a dataclass."""
    return [(f.name, f.default) for f in dataclasses.fields(cls) if f.init]


@st.composite
def keyword_arguments(draw, cls, least=1):
    """``least`` to two of ``cls``'s constructor arguments, fuzzed (the others default)."""
    fields = init_fields(cls)
    chosen = draw(st.lists(st.sampled_from(fields), min_size=least, max_size=2, unique_by=lambda f: f[0]))
    return {name: draw(values_near(default)) for name, default in chosen}


@st.composite
def arguments(draw, valid: dict, odd: dict, most: int = 2):
    """One value per name of ``valid`` (name -> strategy of valid values), except that up to ``most`` names,
    picked at random, take a value of ``odd`` (name -> strategy of odd values) instead."""
    names = draw(st.lists(st.sampled_from(sorted(odd)), max_size=most, unique=True))
    return {name: draw(odd[name] if name in names else strategy) for name, strategy in valid.items()}


def traces_finite(result, what):
    """Every recorded trace of ``result`` is finite."""
    for key, trace in result.traces.items():
        assert_finite(trace.values, f"{what}: trace {key}")


# --- 1. neuron models, built into a small driven population and run ----------------------------------

#: model -> (constant bias that makes it fire, weight of a delta input spike onto v)
DRIVES = {na.LIF: (1.5, 0.3), na.AdaptiveLIF: (1.5, 0.3), na.Izhikevich: (10.0, 5.0), na.AdEx: (0.5e-9, 2e-3)}


@fuzz_settings(90)
@given(st.data())
def test_neuron_models_run_finite(data):
    cls = data.draw(st.sampled_from([na.LIF, na.AdaptiveLIF, na.Izhikevich, na.AdEx, na.HodgkinHuxley]))
    bias, weight = DRIVES.get(cls, (1e-9, 1e-3))
    kwargs = {"i_bias": bias, **data.draw(keyword_arguments(cls))}
    model = attempt(cls.__name__, cls, **kwargs)
    if model is None:
        return
    net = na.Network(dt=25e-6 if cls is na.HodgkinHuxley else 1e-4)
    if attempt("Network.add_population", net.add_population, "p", 3, model) is None:
        return
    assert_finite(net.populations["p"].initial_state(), "initial state")
    if cls is na.HodgkinHuxley:  # (the torch backend does not run it: see test_hodgkin_huxley_brian2_finite)
        return
    net.add_input("drive", 2, na.RegularRate(max_rate=300.0))
    net.connect("drive", "p", weight=1e-3 if model.units == "physical" and cls is not na.Izhikevich else weight)
    net.monitor("p")
    for var in model.state_variables:
        net.monitor("p", var)
    dtype = data.draw(st.sampled_from(["float32", "float64"]))
    result = attempt("Simulator.run (torch)", lambda: na.Simulator(net, "torch", dtype=dtype).run(20e-3))
    if result is not None:
        traces_finite(result, f"{model!r} ({dtype})")
        assert result.raster("p").shape == (200, 3)


@fuzz_settings(6)
@given(st.data())
def test_hodgkin_huxley_brian2_finite(data):
    name, default = data.draw(st.sampled_from(init_fields(na.HodgkinHuxley)))
    kwargs = {"i_bias": 1e-9, name: data.draw(SCALES) * (default or 1e-9)}
    model = attempt("HodgkinHuxley", na.HodgkinHuxley, **kwargs)
    if model is None:
        return
    net = na.Network(dt=25e-6)
    net.add_population("p", 2, model)
    net.monitor("p")
    for var in model.state_variables:
        net.monitor("p", var, every=10)
    result = attempt("Simulator.run (brian2)", lambda: na.Simulator(net, "brian2", target="numpy").run(5e-3))
    if result is not None:
        traces_finite(result, repr(model))


@fuzz_settings(20)
@given(name=st.one_of(st.sampled_from(sorted(na.neurons.IZHIKEVICH_TYPES)), ANYTHING), i_bias=values_near(10.0))
def test_izhikevich_of_type(name, i_bias):
    model = attempt("Izhikevich.of_type", na.Izhikevich.of_type, name, i_bias=i_bias)
    if model is not None:
        assert math.isfinite(model.v_start)


# --- 2. encoders --------------------------------------------------------------------------------------

ENCODERS = [na.PoissonRate, na.RegularRate, na.Latency, na.DeltaEncoder, na.PopulationCode]


def odd_stimuli(n):
    """Stimulus values for ``n`` neurons with something off: values, shapes, types."""
    return st.one_of(
        st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=n, max_size=n).map(np.array),
        st.integers(0, 4).flatmap(lambda t: st.lists(st.floats(-2, 2), min_size=t * n, max_size=t * n)
                                  .map(lambda v, t=t: np.array(v).reshape(t, n))),
        st.sampled_from([np.ones(n, bool), np.zeros((3, n), np.int64), np.full(n, 0.5, np.float32), np.ones(n + 1),
                         np.ones(n) + 0j, torch.full((n,), 0.5), np.array([[0.5] * n] * 3, dtype=object),
                         np.zeros((0, n)), np.ones((2, 0))]),
        ANYTHING)


def stimuli(n):
    """Valid values in [0, 1] for ``n`` neurons, or odd ones."""
    return st.one_of(st.lists(st.floats(0, 1), min_size=n, max_size=n).map(np.array), odd_stimuli(n))


ODD_STEPS = st.one_of(st.sampled_from([0, -1, True, 2.0, 2 ** 63, 10 ** 30, None, "3", np.int64(3)]), NUMBERS)
ODD_DTS = st.one_of(st.sampled_from([0.0, -1e-3, 1.0, math.nan, math.inf, True, "1e-3", None, 1e-300]), NUMBERS)


@fuzz_settings(80)
@given(st.data())
def test_encoders(data):
    cls = data.draw(st.sampled_from(ENCODERS))
    n = 3
    time_series = getattr(cls, "time_series", False)
    valid_values = (st.floats(0, 1).map(lambda x: np.linspace(0, x, 4 * n).reshape(4, n)) if time_series
                    else st.lists(st.floats(0, 1), min_size=n, max_size=n).map(np.array))
    args = data.draw(arguments(
        {"kwargs": st.just({}), "values": valid_values, "steps": st.just(4), "dt": st.sampled_from([1e-3, 1e-4])},
        {"kwargs": keyword_arguments(cls), "values": odd_stimuli(n), "steps": ODD_STEPS, "dt": ODD_DTS}))
    encoder = attempt(cls.__name__, cls, **args["kwargs"])
    if encoder is None:
        return
    values, steps, dt = args["values"], args["steps"], args["dt"]
    raster = attempt(f"{cls.__name__}.encode", encoder.encode, values, steps, dt, np.random.default_rng(0))
    if raster is not None:
        assert isinstance(raster, np.ndarray) and raster.dtype == bool
        shape = np.shape(values)  # (steps, ..., n) for a time series, (..., n) otherwise (a scalar: one neuron)
        assert raster.shape == (shape if time_series else (steps, *shape))
    if isinstance(encoder, na.PopulationCode):
        rates = attempt("PopulationCode.rates", encoder.rates, values)
        if rates is not None:
            assert_finite(rates, "PopulationCode.rates")
            assert np.all(rates >= 0)
        size = data.draw(st.one_of(st.just(n), SIZES))
        for method in ("preferred", "width"):
            out = attempt(f"PopulationCode.{method}", getattr(encoder, method), size)
            if out is not None:
                assert_finite(np.asarray(out, dtype=float), f"PopulationCode.{method}")
        x = data.draw(st.one_of(st.floats(-1, 2), st.just(np.ones((2, 1))), ANYTHING))
        out = attempt("PopulationCode.stimulus", encoder.stimulus, x, size)
        if out is not None:
            assert_finite(out, "PopulationCode.stimulus")
    if isinstance(encoder, na.Latency):
        times = attempt("Latency.spike_times", encoder.spike_times, values)
        if times is not None:
            assert not np.any(np.isnan(times))


@fuzz_settings(20)
@given(values=st.one_of(st.integers(0, 3).map(lambda t: np.eye(3, dtype=bool)[:t]), st.integers(0, 3).map(
    lambda t: np.ones((t, 3))), ANYTHING), steps=st.one_of(st.integers(0, 3), ODD_STEPS))
def test_spike_array(values, steps):
    raster = attempt("SpikeArray.encode", na.SpikeArray().encode, values, steps, 1e-3)
    if raster is not None:
        assert raster.dtype == bool and raster.shape[0] == steps


# --- 3. building a Network ----------------------------------------------------------------------------

def base_network():
    net = na.Network(dt=1e-4)
    net.add_input("inp", 3, na.PoissonRate(max_rate=200.0))
    net.add_population("p", 2, na.LIF(i_bias=0.5))
    return net


@fuzz_settings(25)
@given(dt=st.one_of(st.sampled_from([1e-4, 5e-5]), NUMBERS, ANYTHING, QUANTITIES))
def test_network_dt(dt):
    net = attempt("Network", na.Network, dt=dt)
    if net is not None:
        assert math.isfinite(net.dt) and net.dt > 0


@fuzz_settings(50)
@given(st.data())
def test_add_population(data):
    args = data.draw(arguments(
        {"name": st.just("q"), "n": st.integers(1, 4),
         "model": st.sampled_from([None, na.LIF(), na.AdaptiveLIF(), na.Izhikevich(), na.AdEx()]),
         "v_init": st.one_of(st.none(), st.floats(-1, 1), st.just(na.Uniform(0, 1, seed=1))),
         "init": st.sampled_from([None, {}])},
        {"name": st.one_of(st.sampled_from(["p", "inp", "my pop", "", "a:b", "x\ny"]), ANYTHING), "n": SIZES,
         "model": st.one_of(st.sampled_from([na.LIF(tau_m=1e-4), na.HodgkinHuxley(), na.Delta()]), ANYTHING),
         "v_init": st.one_of(st.just(np.zeros(2)), st.just(np.zeros(1)), st.just(na.Normal(0, 1e300)), ANYTHING),
         "init": st.one_of(st.sampled_from([{"theta": 0.1}, {"theta": np.ones(2)}, {"u": 1.0}, {"w": np.nan}]),
                           st.dictionaries(st.sampled_from(["theta", "u", "v", "w"]), ANYTHING, max_size=2),
                           ANYTHING)}))
    net = base_network()
    pop = attempt("Network.add_population", net.add_population, args["name"], args["n"], args["model"],
                  v_init=args["v_init"], init=args["init"])
    if pop is not None:
        state = pop.initial_state()
        assert_finite(state, "initial state")
        assert all(np.shape(x) == (pop.n,) for x in state.values())


@fuzz_settings(30)
@given(name=st.one_of(st.sampled_from(["src", "p", "inp"]), ANYTHING), n=SIZES,
       encoder=st.one_of(st.sampled_from([None, na.PoissonRate(), na.SpikeArray(), na.Latency(), na.PopulationCode()]),
                         ANYTHING))
def test_add_input(name, n, encoder):
    net = base_network()
    inp = attempt("Network.add_input", net.add_input, name, n, encoder)
    if inp is not None:
        assert inp.n >= 1


@fuzz_settings(30)
@given(st.data())
def test_connectivity_and_initializers(data):
    cls = data.draw(st.sampled_from([na.FixedProbability, na.AllToAll, na.Explicit, na.Uniform, na.Normal]))
    valid = {na.FixedProbability: dict(p=st.floats(0, 1), allow_self=st.booleans(), seed=st.integers(0, 9)),
             na.AllToAll: dict(allow_self=st.booleans()),
             na.Explicit: dict(mask=st.just(np.ones((3, 2), bool))),
             na.Uniform: dict(low=st.floats(-1, 0), high=st.floats(0, 1), seed=st.integers(0, 9)),
             na.Normal: dict(mean=st.floats(-1, 1), std=st.floats(0, 1), seed=st.integers(0, 9))}[cls]
    odd = {name: st.one_of(NUMBERS, ANYTHING, QUANTITIES, st.sampled_from([np.ones((2, 3), bool), np.ones((3, 2))]))
           for name in valid}
    kwargs = data.draw(arguments(valid, odd))
    made = attempt(cls.__name__, cls, **kwargs)
    if made is None:
        return
    net = base_network()
    weight = made if isinstance(made, (na.Uniform, na.Normal)) else 0.2
    proj = attempt("Network.connect", net.connect, "inp", "p", None if weight is made else made, weight)
    if proj is not None:
        assert_finite(proj.weights, "weights")
        assert proj.weights.shape == proj.pre_idx.shape == proj.post_idx.shape


VALID_RULES = st.sampled_from([None, plasticity.STDP(), plasticity.STDP(dependence="multiplicative", nearest=True),
                               plasticity.TripletSTDP(), plasticity.RewardSTDP(), plasticity.Hebbian(),
                               plasticity.Oja(), plasticity.BCM()])
RULES = [plasticity.STDP, plasticity.TripletSTDP, plasticity.RewardSTDP, plasticity.Hebbian, plasticity.Oja,
         plasticity.BCM, plasticity.SynapticNormalization]


@st.composite
def odd_rules(draw):
    cls = draw(st.sampled_from(RULES))
    return attempt(cls.__name__, cls, **draw(keyword_arguments(cls)))


@st.composite
def odd_synapses(draw):
    kind = draw(st.sampled_from([na.ExponentialCurrent, na.ExponentialConductance, na.Delta]))
    names = {na.ExponentialCurrent: ["I_syn", "v", "theta"], na.ExponentialConductance: ["g", "v", "I_syn"],
             na.Delta: ["v", "u", "x"]}[kind]
    args = [] if kind is na.Delta else [draw(values_near(5e-3))]
    if kind is na.ExponentialConductance:
        args.append(draw(values_near(2.0)))
    args.append(draw(st.one_of(st.sampled_from(names), ANYTHING)))
    return attempt(kind.__name__, kind, *args)


@fuzz_settings(100)
@given(st.data())
def test_connect_and_run(data):
    args = data.draw(arguments(
        {"pre": st.sampled_from(["inp", "p"]), "post": st.just("p"),
         "connectivity": st.sampled_from([None, na.AllToAll(), na.FixedProbability(0.5, seed=1),
                                          na.Explicit(np.eye(3, 2, dtype=bool))]),
         "weight": st.one_of(st.floats(0, 1), st.just(na.Uniform(0, 0.5, seed=2)), st.just(np.full(6, 0.1))),
         "synapse": st.sampled_from([None, na.Delta(), na.ExponentialCurrent(5e-3), na.ExponentialConductance(5e-3, 2.0)]),
         "sign": st.sampled_from([None, "excitatory", "inhibitory"]), "delay": st.sampled_from([0.0, 1e-4, 3e-4]),
         "round_delay": st.booleans(), "plasticity": VALID_RULES,
         "normalization": st.sampled_from([None, plasticity.SynapticNormalization(1.0, 2e-4)]),
         "name": st.sampled_from([None, "proj"])},
        {"pre": st.one_of(st.sampled_from(["nope", "P"]), ANYTHING), "post": st.one_of(st.just("inp"), ANYTHING),
         "connectivity": st.one_of(st.sampled_from([na.OneToOne(), na.Explicit(np.ones((2, 3), bool))]), ANYTHING),
         "weight": st.one_of(st.just(np.ones((2, 3))), st.just(-0.5), st.just(na.Normal(0, 1e300)),
                             st.just(np.full((3, 2), np.nan)), NUMBERS, ANYTHING),
         "synapse": st.one_of(odd_synapses(), ANYTHING), "sign": ANYTHING,
         "delay": st.one_of(st.sampled_from([1.5e-4, 1e-3 * b2.second, 1e300]), NUMBERS, ANYTHING, QUANTITIES),
         "round_delay": ANYTHING, "plasticity": st.one_of(odd_rules(), ANYTHING),
         "normalization": st.one_of(st.builds(plasticity.SynapticNormalization, st.floats(0.1, 2)), ANYTHING),
         "name": st.one_of(st.sampled_from(["p", "2x", ""]), ANYTHING)}))
    net = base_network()
    net.add_signal("reward")
    pre, post, connectivity, weight = (args.pop(k) for k in ("pre", "post", "connectivity", "weight"))
    proj = attempt("Network.connect", net.connect, pre, post, connectivity, weight, **args)
    if proj is None:
        return
    assert_finite(proj.weights, "weights")
    assert proj.weights.shape == proj.pre_idx.shape == proj.post_idx.shape
    net.monitor("p")
    for variable in net.recordable("p")[1:] + ("w",):
        net.monitor(proj.name if variable == "w" else "p", variable, every=data.draw(st.integers(1, 3)))
    result = attempt("Simulator.run (torch)", lambda: na.Simulator(net, "torch").run(3e-3, signals={"reward": 1.0}))
    if result is not None:
        traces_finite(result, repr(proj))


@fuzz_settings(12)
@given(n_pre=SIZES, n_post=st.sampled_from([2, 2 ** 31, 2 ** 40]),
       connectivity=st.sampled_from([None, na.AllToAll(), na.FixedProbability(0.5), na.OneToOne()]))
def test_huge_projections(n_pre, n_post, connectivity):
    """Impossible sizes fail at once with the memory they would need."""
    net = na.Network()
    if attempt("Network.add_input", net.add_input, "a", n_pre) is None:
        return
    if attempt("Network.add_population", net.add_population, "b", n_post) is None:
        return
    proj = attempt("Network.connect", net.connect, "a", "b", connectivity, 0.1)
    if proj is not None:
        assert proj.n_synapses <= net.size("a") * net.size("b")


@fuzz_settings(30)
@given(target=st.one_of(st.sampled_from(["p", "inp", "inp_to_p", "nope"]), ANYTHING),
       variable=st.one_of(st.sampled_from(["spikes", "v", "w", "I_syn", "u"]), ANYTHING),
       every=st.one_of(st.integers(1, 5), NUMBERS, ANYTHING))
def test_monitor(target, variable, every):
    net = base_network()
    net.connect("inp", "p", weight=0.3)
    mon = attempt("Network.monitor", net.monitor, target, variable, every)
    if mon is not None:
        result = attempt("Simulator.run (torch)", lambda: na.Simulator(net, "torch").run(1e-3))
        if result is not None:
            traces_finite(result, mon.key)


# --- 4. running ---------------------------------------------------------------------------------------

def run_network():
    net = base_network()
    net.add_input("series", 2, na.SpikeArray())
    net.add_signal("reward")
    net.connect("inp", "p", weight=0.3, plasticity=plasticity.RewardSTDP(), name="ip")
    net.connect("series", "p", weight=0.4)
    net.monitor("p")
    net.monitor("p", "v")
    net.monitor("ip", "w")
    return net


@fuzz_settings(60)
@given(st.data())
def test_simulator_run(data):
    args = data.draw(arguments(
        {"backend": st.just("torch"), "seed": st.integers(0, 5), "check_finite": st.booleans(),
         "options": st.sampled_from([{}, {"dtype": "float64"}, {"sparse": True}, {"device": "cpu"}]),
         "duration": st.sampled_from([1e-3, 5e-4, 1.04e-3, 1 * b2.ms]),
         "inputs": st.one_of(st.none(), st.fixed_dictionaries({"inp": stimuli(3).filter(lambda x: True)}),
                             st.just({"series": np.ones((10, 2), bool)})),
         "signals": st.sampled_from([None, {}, {"reward": 0.5}, {"reward": np.linspace(-1, 1, 10)}]),
         "progress": st.just(False)},
        {"backend": st.one_of(st.sampled_from(["Torch", "nengo"]), ANYTHING), "seed": NUMBERS,
         "check_finite": ANYTHING,
         "options": st.dictionaries(st.sampled_from(["dtype", "device", "sparse", "target", "bogus"]),
                                    st.one_of(st.sampled_from(["float16", "cuda", "numpy", 1]), ANYTHING), min_size=1,
                                    max_size=2),
         "duration": st.one_of(st.sampled_from([1e-5, 1e300, 1e-3 * b2.volt]), NUMBERS, ANYTHING, QUANTITIES),
         "inputs": st.one_of(st.fixed_dictionaries({"inp": odd_stimuli(3)}),
                             st.fixed_dictionaries({"series": st.sampled_from(
                                 [np.ones((10, 2)), np.ones((9, 2), bool), np.full((10, 2), 2.0)])}),
                             st.dictionaries(st.sampled_from(["inp", "series", "nope"]), ANYTHING, max_size=2),
                             ANYTHING),
         "signals": st.one_of(st.fixed_dictionaries({"reward": st.one_of(st.just(np.ones(9)), NUMBERS, ANYTHING)}),
                              st.just({"punishment": 1.0}), ANYTHING),
         "progress": ANYTHING}))
    net = run_network()
    sim = attempt("Simulator", na.Simulator, net, args["backend"], seed=args["seed"],
                  check_finite=args["check_finite"], **args["options"])
    if sim is None:
        return
    result = attempt("Simulator.run", sim.run, args["duration"], args["inputs"], args["signals"],
                     progress=args["progress"])
    if result is not None:
        traces_finite(result, "run")
        assert result.n_steps >= 1
        assert_finite(result.rates("p"), "rates")
        assert_finite(sim.to_network().projections["ip"].weights, "learned weights")


@fuzz_settings(3)
@given(weight=st.sampled_from([0.3, 1e6, 1e300]))
def test_simulator_brian2(weight):
    net = base_network()
    net.connect("inp", "p", weight=weight)
    net.monitor("p", "v")
    result = attempt("Simulator.run (brian2)", lambda: na.Simulator(net, "brian2", target="numpy").run(1e-3))
    if result is not None:
        traces_finite(result, "brian2 run")


def forward_network():
    net = base_network()
    net.connect("inp", "p", weight=0.4)
    net.connect("p", "p", weight=0.1, sign="inhibitory", delay=2e-4)
    net.monitor("p", "v")
    return net


@fuzz_settings(30)
@given(st.data())
def test_torch_network_constructor(data):
    args = data.draw(arguments(
        {"dtype": st.sampled_from(["float32", "float64", torch.float64]),
         "device": st.sampled_from([None, "cpu", torch.device("cpu")]),
         "surrogate_fn": st.sampled_from([None, snn_surrogate.fast_sigmoid(), na.backends.torch_surrogates.fast_sigmoid()]),
         "sparse": st.sampled_from([None, True, False])},
        {"dtype": st.one_of(st.sampled_from([torch.float16, "float16", torch.int64]), ANYTHING),
         "device": st.one_of(st.sampled_from(["cuda:7", "tpu", -1]), ANYTHING),
         "surrogate_fn": st.one_of(st.sampled_from([torch.sign, abs, lambda x: x.sum()]), ANYTHING),
         "sparse": ANYTHING}))
    module = attempt("TorchNetwork", TorchNetwork, forward_network(), **args)
    if module is None:
        return
    out = attempt("TorchNetwork.forward", module, {"inp": torch.ones(4, 1, 3)})
    if out is not None:
        assert_finite(out.spikes, "spikes")
        assert_finite({k: v for k, (_, v) in out.traces.items()}, "traces")


ODD_TENSORS = st.sampled_from([
    torch.full((4, 1, 3), math.nan), torch.full((4, 1, 3), math.inf), -torch.ones(4, 1, 3),
    torch.ones(4, 1, 3, dtype=torch.complex64), torch.ones(4, 3), torch.ones(4, 1, 4), torch.ones(4, 2, 3),
    np.ones((4, 1, 3)), torch.ones(0, 1, 3), torch.ones(4, 1, 3, dtype=torch.float16), torch.ones(4, 0, 3),
    torch.full((4, 1, 3), 1e38)])


@fuzz_settings(70)
@given(st.data())
def test_torch_network_forward(data):
    module = TorchNetwork(forward_network(), device="cpu")
    args = data.draw(arguments(
        {"inputs": st.sampled_from([{"inp": torch.ones(4, 1, 3)}, {"inp": torch.ones(4, 2, 3, dtype=torch.bool)},
                                    {"inp": torch.randint(0, 3, (4, 1, 3), generator=torch.Generator().manual_seed(0))}]),
         "steps": st.sampled_from([None, 4]), "state": st.sampled_from([None, "fresh"]),
         "record": st.sampled_from([None, ("p",), ()]), "signals": st.sampled_from([None, {}]),
         "exclusive": st.sampled_from([(), ("p",)])},
        {"inputs": st.one_of(st.fixed_dictionaries({"inp": st.one_of(ODD_TENSORS, ANYTHING)}),
                             st.dictionaries(st.sampled_from(["inp", "nope", 3]), ODD_TENSORS, max_size=2), ANYTHING),
         "steps": st.one_of(st.sampled_from([0, 3, 5, 4.0]), NUMBERS, ANYTHING),
         "state": st.one_of(st.sampled_from(["batch2", "other"]), ANYTHING),
         "record": st.one_of(st.sampled_from([("inp",), "p", ["p"], ("q",)]), ANYTHING),
         "signals": st.one_of(st.just({"reward": 1.0}), ANYTHING),
         "exclusive": st.one_of(st.sampled_from(["p", ("q",), ["p"]]), ANYTHING)}))
    state, inputs = args.pop("state"), args.pop("inputs")
    if isinstance(state, str) and state in ("fresh", "batch2"):
        x = inputs.get("inp") if isinstance(inputs, dict) else None
        batch = x.shape[1] if isinstance(x, torch.Tensor) and x.ndim == 3 and x.shape[1] else 1
        state = module.initial_state(2 if state == "batch2" else batch)
    elif isinstance(state, str) and state == "other":
        state = TorchNetwork(base_network(), device="cpu").initial_state(1)
    out = attempt("TorchNetwork.forward", module, inputs, state=state, **args)
    if out is not None:
        assert_finite(out.spikes, "spikes")
        assert_finite({k: v for k, (_, v) in out.traces.items()}, "traces")
        for s in out.spikes.values():
            assert s.shape[-1] == 2


@fuzz_settings(15)
@given(batch=st.one_of(st.integers(1, 3), NUMBERS, ANYTHING))
def test_torch_initial_state(batch):
    module = TorchNetwork(forward_network(), device="cpu")
    state = attempt("TorchNetwork.initial_state", module.initial_state, batch)
    if state is not None:
        assert_finite(state.neurons, "initial state")


# --- 5. the user's own equations -----------------------------------------------------------------------

NEURON_EQUATIONS = [
    ("dv/dt = -v/tau : 1", {"tau": 10e-3}, "v > 1", "v = 0"),
    ("dv/dt = (v**2 + I_ext)/tau : 1 (unless refractory)\ndI/dt = -I/tau_s : 1",
     {"tau": 10e-3, "I_ext": 0.5, "tau_s": 5e-3}, "v > 10", "v = -10"),
    ("dv/dt = (E_L - v + R*I)/tau : volt\nI : amp", {"E_L": -70e-3, "R": 1e8, "tau": 20e-3},
     "v > -50*mV", "v = E_L"),
    ("dv/dt = (v - v**3/3 - w + I0)/tau : 1\ndw/dt = (v + a - b*w)/tau_w : 1",
     {"tau": 1e-3, "tau_w": 12.5e-3, "a": 0.7, "b": 0.8, "I0": 0.5}, "v > 1", "w += 0.1"),
]


@st.composite
def mutated(draw, text):
    """A corruption of ``text``: a character removed, replaced or added, a truncation, free text."""
    kind = draw(st.sampled_from(["delete", "insert", "truncate", "text"]))
    if not text:
        return draw(st.text(max_size=20))
    k = draw(st.integers(0, len(text) - 1))
    if kind == "delete":
        return text[:k] + text[k + 1:]
    if kind == "insert":
        return text[:k] + draw(st.sampled_from(list("()*/:+-=<>\n#'\"\\x0._ ") + ["**", "xi", "exp(", "1e999",
                                                                                  "rand()", " (clock-driven)"])) + text[k:]
    if kind == "truncate":
        return text[:k]
    return draw(st.text(max_size=20))


@fuzz_settings(80)
@given(st.data())
def test_neuron_model(data):
    equations, parameters, threshold, reset = data.draw(st.sampled_from(NEURON_EQUATIONS))
    extra = data.draw(st.sampled_from(sorted(parameters) + ["extra", "_x", "v", "t"]))
    args = data.draw(arguments(
        {"equations": st.just(equations), "threshold": st.just(threshold), "reset": st.just(reset),
         "parameters": st.just(parameters), "refractory": st.sampled_from([0.0, 1e-3, 2 * b2.ms]),
         "method": st.sampled_from([None, "euler", "rk4", ("exact", "euler")])},
        {"equations": st.one_of(mutated(equations), ANYTHING),
         "threshold": st.one_of(mutated(threshold), st.sampled_from([None, "", "v", "1", "True", "v >", "v = 1"]),
                                ANYTHING),
         "reset": st.one_of(mutated(reset), st.sampled_from(["", "v == 0", "x = 1", "v = 0; v = 1"]), ANYTHING),
         "parameters": st.one_of(
             st.one_of(values_near(parameters.get(extra, 1.0)), st.just(np.linspace(0.1, 1, 3)),
                       st.just(np.ones(2)), st.just(np.ones((3, 1)))).map(lambda v: {**parameters, extra: v}),
             ANYTHING),
         "refractory": st.one_of(NUMBERS, ANYTHING, QUANTITIES),
         "method": st.one_of(st.sampled_from(["exact", "exponential_euler", "nope", (), ["euler"], ("euler", 3)]),
                             ANYTHING)}))
    model = attempt("NeuronModel", na.NeuronModel, args.pop("equations"), **args)
    if model is None:
        return
    net = na.Network(dt=1e-4)
    v_init = -60e-3 if model.units == "physical" else 0.5
    if attempt("Network.add_population", net.add_population, "p", 3, model, v_init=v_init) is None:
        return
    for var in model.state_variables:
        net.monitor("p", var)
    net.monitor("p")
    result = attempt("Simulator.run (torch)", lambda: na.Simulator(net, "torch", dtype="float64").run(3e-3))
    if result is not None:
        traces_finite(result, repr(model))


SYNAPSE_EQUATIONS = [
    ("w : 1", "v_post += w", None, {}),
    ("w : 1\ndapre/dt = -apre/tau_pre : 1 (event-driven)\ndapost/dt = -apost/tau_post : 1 (event-driven)",
     "v_post += w\napre += a_plus\nw = clip(w + apost, 0, w_max)", "apost -= a_minus\nw = clip(w + apre, 0, w_max)",
     dict(tau_pre=20e-3, tau_post=20e-3, a_plus=0.02, a_minus=0.021, w_max=1.0)),
    ("w : 1\nds/dt = -s/tau_s : 1 (clock-driven)", "s += 1\nv_post += w*s", None, dict(tau_s=5e-3)),
]


@fuzz_settings(60)
@given(st.data())
def test_synapse_model(data):
    model, on_pre, on_post, parameters = data.draw(st.sampled_from(SYNAPSE_EQUATIONS))
    extra = data.draw(st.sampled_from(sorted(parameters) + ["extra", "w", "j"]))
    args = data.draw(arguments(
        {"model": st.just(model), "on_pre": st.just(on_pre), "on_post": st.just(on_post),
         "parameters": st.just(parameters), "method": st.sampled_from([None, "euler", "exact"]),
         "weight": st.just("w"), "init": st.just({}), "connect_weight": st.sampled_from([0.2, 0.5]),
         "pre": st.sampled_from(["inp", "p"])},
        {"model": st.one_of(mutated(model), ANYTHING),
         "on_pre": st.one_of(mutated(on_pre), st.sampled_from([None, "", "x_post += w", "w", "v_pre += w"]), ANYTHING),
         "on_post": st.one_of(st.sampled_from(["", "w = 0", "v_pre = 1", "w = w / 0"]), ANYTHING),
         "parameters": st.one_of(values_near(parameters.get(extra, 1.0)).map(lambda v: {**parameters, extra: v}),
                                 ANYTHING),
         "method": st.one_of(st.just("nope"), ANYTHING), "weight": st.one_of(st.sampled_from(["s", "nope"]), ANYTHING),
         "init": st.one_of(st.sampled_from([{"s": 0.5}, {"w": 1.0}, {"apre": np.nan}]),
                           st.dictionaries(st.sampled_from(["s", "apre"]), ANYTHING, max_size=1), ANYTHING),
         "connect_weight": st.one_of(NUMBERS, ANYTHING), "pre": st.just("p")}))
    weight, pre = args.pop("connect_weight"), args.pop("pre")
    synapse = attempt("SynapseModel", na.SynapseModel, args.pop("model"), **args)
    if synapse is None:
        return
    net = na.Network(dt=1e-4)
    net.add_input("inp", 3, na.PoissonRate(max_rate=300.0))
    net.add_population("p", 2, na.LIF(i_bias=0.8))
    if attempt("Network.connect", net.connect, pre, "p", weight=weight, synapse_model=synapse) is None:
        return
    net.monitor("p", "v")
    result = attempt("Simulator.run (torch)", lambda: na.Simulator(net, "torch", dtype="float64").run(3e-3))
    if result is not None:
        traces_finite(result, repr(synapse))
