"""The NEST backend: Brian2's very spikes on the networks it runs, and clear refusals of the others."""
import numpy as np
import pytest

import neuroai as na

DT = 1e-4


def lif(rng, units: str, refractory_steps: int) -> na.LIF:
    """A LIF of random parameters; its bias never drives it across the threshold by itself (that needs the
    inputs)."""
    t_ref = refractory_steps * DT
    if units == "physical":
        return na.LIF.physical(tau_m=rng.uniform(8e-3, 30e-3), v_reset=rng.uniform(-72e-3, -60e-3), t_ref=t_ref,
                               i_bias=rng.uniform(0.0, 0.15e-9))
    return na.LIF(tau_m=rng.uniform(8e-3, 30e-3), v_reset=rng.uniform(-0.3, 0.3), t_ref=t_ref,
                  i_bias=rng.uniform(0.0, 0.8))


def random_network(seed: int, units: str) -> na.Network:
    """Poisson inputs onto two recurrently connected populations, excitatory and inhibitory projections,
    delays of 0 to 15 steps; seeds 0, 1, 2 between them give refractory periods of 0, 1, 5 and 20 steps."""
    rng = np.random.default_rng(seed)
    scale = 1e-3 if units == "physical" else 0.06   # a jump of a few percent of the threshold gap
    net = na.Network(dt=DT)
    net.add_input("inp", 40, na.PoissonRate(max_rate=60.0))
    net.add_population("a", 25, lif(rng, units, [0, 1, 5, 20][seed % 4]))
    net.add_population("b", 10, lif(rng, units, [20, 0, 1, 5][seed % 4]))
    for k, (pre, post, sign, gain, p) in enumerate([("inp", "a", None, 5, 0.5), ("inp", "b", None, 4, 0.4),
                                                    ("a", "b", "excitatory", 3, 0.5), ("b", "a", "inhibitory", 3, 0.5),
                                                    ("a", "a", "excitatory", 1.5, 0.2)]):
        net.connect(pre, post, weight=na.Uniform(0.2 * gain * scale, gain * scale, seed=seed * 10 + k),
                    connectivity=na.FixedProbability(p, seed=seed * 10 + k + 5), sign=sign,
                    delay=int(rng.integers(0, 16)) * DT)
    net.monitor("a")
    net.monitor("b")
    return net


def spikes(net: na.Network, backend: str, **options) -> list:
    sim = na.Simulator(net, backend, seed=7, **options)
    return [(r.spikes[p].steps, r.spikes[p].indices) for r in (sim.run(0.08), sim.run(0.05)) for p in ("a", "b")]


@pytest.mark.parametrize("units", ["physical", "dimensionless"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_same_spikes_as_brian2_step_for_step(seed, units):
    net = random_network(seed, units)
    brian, nest = spikes(net, "brian2", target="numpy"), spikes(net, "nest")
    assert sum(len(s) for s, _ in brian) > 100     # enough spikes to say something
    for (bs, bi), (ns, ni) in zip(brian, nest):
        np.testing.assert_array_equal(bs, ns)
        np.testing.assert_array_equal(bi, ni)


def test_threads_do_not_change_the_spikes():
    net = random_network(3, "physical")
    one, two = spikes(net, "nest", threads=1), spikes(net, "nest", threads=2)
    assert sum(len(s) for s, _ in one) > 100
    for (s1, i1), (s2, i2) in zip(one, two):
        np.testing.assert_array_equal(s1, s2)
        np.testing.assert_array_equal(i1, i2)


def small(neuron=None, synapse=None) -> na.Network:
    net = na.Network(dt=DT)
    net.add_input("inp", 3, na.PoissonRate(max_rate=50.0))
    net.add_population("p", 2, neuron or na.LIF())
    net.connect("inp", "p", weight=0.5, **({"synapse": synapse} if synapse else {}))
    net.monitor("p")
    return net


def test_what_nest_cannot_run_is_refused_naming_who_can():
    with pytest.raises(NotImplementedError, match=r"'nest' does not support \['reset:subtract'\]; backends that "
                                                  r"do: \['brian2', 'torch'\]"):
        na.Simulator(small(na.LIF(reset="subtract")), "nest")
    with pytest.raises(NotImplementedError, match=r"'nest' does not support \['ExponentialCurrent'\]"):
        na.Simulator(small(synapse=na.ExponentialCurrent(5e-3)), "nest")
    net = small()
    net.monitor("p", "v")
    with pytest.raises(NotImplementedError, match=r"nest backend: records spikes only for now, not the state "
                                                  r"monitors \['p.v'\]"):
        na.Simulator(net, "nest")
    with pytest.raises(ValueError, match="population 'p' is driven across its threshold within one step of a reset"):
        na.Simulator(small(na.LIF(i_bias=1000.0)), "nest")
    with pytest.raises(ValueError, match=r"nest backend: parameter 'threads' must be >= 1, got 0"):
        na.Simulator(small(), "nest", threads=0)


def test_nest_holds_one_network_per_process():
    first = na.Simulator(small(), "nest")
    second = na.Simulator(small(), "nest")
    second.run(0.01)
    with pytest.raises(RuntimeError, match="another NEST Simulator has been built since this one"):
        first.run(0.01)
    with pytest.raises(NotImplementedError, match="nest backend: independent trials are not supported yet"):
        second.present({"inp": np.ones((2, 3))}, 0.01, independent=True)
    assert second.to_network().projections["inp_to_p"].weights.tolist() == [0.5] * 6
