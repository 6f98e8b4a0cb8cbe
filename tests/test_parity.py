"""The parity contract: with float64 and the same dt, both backends give the
same spikes (same neuron, same step) and the same state, bit for bit."""
import json
import os
import pathlib
import platform
import subprocess
import sys

import numpy as np
import pytest

import neuroai as na
from conftest import random_network


def run_both(net, duration, seed=0, **run_kw):
    results = []
    for backend, opts in (("brian2", {"target": "numpy"}), ("torch", {"dtype": "float64"})):
        results.append(na.Simulator(net, backend, seed=seed, **opts).run(duration, **run_kw))
    return results


def assert_same_spikes(a, b, names):
    for name in names:
        sa, sb = a.spikes[name], b.spikes[name]
        np.testing.assert_array_equal(sa.steps, sb.steps, err_msg=f"spike steps of {name}")
        np.testing.assert_array_equal(sa.indices, sb.indices, err_msg=f"spike neurons of {name}")


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_networks_spike_for_spike(seed):
    net = random_network(seed)
    brian, torch_ = run_both(net, 0.3, seed=seed)  # (3,000 steps: 1,000 to 4,000 spikes per population)
    assert_same_spikes(brian, torch_, ["a", "b", "c", "poisson"])
    for name in ("a", "b", "c"):
        rate = brian.rates(name).mean()
        assert 0.5 < rate < 200, f"population {name} is silent or saturated ({rate:.1f} Hz): test is vacuous"
    for key in ("a.v", "b.I_exc", "b_to_a.w"):
        ta, tb = brian.trace(key), torch_.trace(key)
        np.testing.assert_array_equal(ta.steps, tb.steps)
        np.testing.assert_array_equal(ta.values, tb.values)


def test_lif_fires_at_analytic_rate_on_both_backends():
    # Constant drive: v relaxes to v_inf = v_rest + R*i_bias; from v_reset it
    # reaches v_th after T = tau_m * ln((v_inf - v_reset)/(v_inf - v_th)).
    # With exact integration the n-th integrated value is the continuous
    # solution at n*dt, so a spike needs floor(T/dt) + 1 integrations; the
    # refractory clamp holds v for r - 1 further steps (Brian2's convention:
    # integration resumes at the step t_ref after the spike).
    tau_m, t_ref, dt, i_bias = 20e-3, 2e-3, 1e-4, 1.5
    net = na.Network(dt=dt)
    net.add_population("n", 1, na.LIF(tau_m=tau_m, i_bias=i_bias, t_ref=t_ref))
    net.monitor("n")
    T = tau_m * np.log(i_bias / (i_bias - 1.0))
    isi_steps = int(np.floor(T / dt)) + 1 + round(t_ref / dt) - 1
    for res in run_both(net, 1.0):
        isi = np.diff(res.spike_times("n"))
        assert len(isi) > 10
        np.testing.assert_allclose(isi, isi_steps * dt, rtol=1e-9)
        assert abs(res.rates("n")[0] - 1 / (T + t_ref)) / (1 / (T + t_ref)) < 0.02


def test_physical_units_match():
    net = na.Network(dt=5e-5)
    net.add_input("inp", 50, na.PoissonRate(max_rate=40.0))
    net.add_population("pyr", 80, na.LIF.physical(i_bias=0.15e-9), v_init=na.Uniform(-70e-3, -55e-3, seed=4))
    net.connect("inp", "pyr", na.FixedProbability(0.3, seed=1), weight=na.Uniform(0, 0.3e-9, seed=2),
                synapse=na.ExponentialCurrent(5e-3, "I_ampa"))
    net.connect("pyr", "pyr", na.FixedProbability(0.1, seed=3), weight=1e-3, delay=1e-3)
    net.monitor("pyr")
    net.monitor("pyr", "v", every=20)
    brian, torch_ = run_both(net, 0.5)
    assert brian.spike_count("pyr") > 20
    assert_same_spikes(brian, torch_, ["pyr"])
    np.testing.assert_array_equal(brian.trace("pyr.v").values, torch_.trace("pyr.v").values)
    assert -0.08 < brian.trace("pyr.v").values.min() and brian.trace("pyr.v").values.max() < -0.04  # volts


def test_present_and_continued_runs_match(small_net):
    small_net.monitor("inp")
    stimuli = {"inp": np.random.default_rng(0).uniform(0, 1, (4, 20))}
    out = []
    for backend, opts in (("brian2", {}), ("torch", {"dtype": "float64"})):
        sim = na.Simulator(small_net, backend, seed=5, **opts)
        first = sim.present(stimuli, t_on=30e-3, t_off=20e-3)
        second = sim.run(0.05, inputs={"inp": np.full(20, 0.5)})
        out.append((first, second, sim.t))
    (b1, b2, tb), (t1, t2, tt) = out
    assert_same_spikes(b1, t1, ["out", "inp"])
    assert_same_spikes(b2, t2, ["out"])
    assert tb == tt == pytest.approx(0.25)
    assert b2.start_step == 2000 and b2.spikes["out"].steps.min() >= 2000
    counts = b1.window_counts("out")
    assert counts.shape == (4, 30) and counts.sum() > 0
    # rest periods are silent on the input
    rest = b1.raster("inp")[300:500]
    assert not rest.any()


def test_segments_without_samples_give_empty_traces_on_both_backends():
    net = na.Network(dt=1e-3)
    net.add_input("i", 3, na.PoissonRate(10.0))
    net.add_population("p", 2)
    net.connect("i", "p")
    net.monitor("p", "v", every=100)
    net.monitor("i_to_p", "w", every=100)
    for backend in ("brian2", "torch"):
        sim = na.Simulator(net, backend)
        sim.run(0.05)
        second = sim.run(0.03)  # steps 50..79: no multiple of 100
        assert second.trace("p.v").values.shape == (0, 2)
        assert second.trace("i_to_p.w").values.shape == (0, 3 * 2)


def test_sparse_projections_keep_the_parity():
    net = random_network(4)
    brian = na.Simulator(net, "brian2", seed=4, target="numpy").run(0.3)
    sparse = na.Simulator(net, "torch", seed=4, dtype="float64", sparse=True)
    assert sparse.runner.module.sparse == set(net.projections)  # every projection stored per synapse
    result = sparse.run(0.3)
    assert sum(len(result.spikes[p].steps) for p in "abc") > 100
    assert_same_spikes(brian, result, ["a", "b", "c"])
    np.testing.assert_array_equal(brian.trace("a.v").values, result.trace("a.v").values)


def _dispatch_configurations() -> dict[str, tuple[str, dict]]:
    """name -> (torch's expected CPU capability, environment) of the SIMD
    levels to check on this machine: the plain baseline everywhere, and on
    x86-64 with AVX2 the AVX2 level (as on AVX2-only machines such as AMD
    EPYC of this project's kind), whatever the machine itself has."""
    from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__

    def without(features):
        return " ".join(f for f in __cpu_dispatch__ if f in features and __cpu_features__.get(f))

    configs = {"baseline": ("DEFAULT", {"ATEN_CPU_CAPABILITY": "default",
                                        "NPY_DISABLE_CPU_FEATURES": without(__cpu_dispatch__)})}
    if platform.machine() in ("x86_64", "AMD64") and __cpu_features__.get("AVX2"):
        avx512 = [f for f in __cpu_dispatch__ if f.startswith("AVX512")]
        configs["AVX2"] = ("AVX2", {"ATEN_CPU_CAPABILITY": "avx2", "NPY_DISABLE_CPU_FEATURES": without(avx512)})
    return configs


@pytest.mark.slow
@pytest.mark.parametrize("level", sorted(_dispatch_configurations()))
def test_bitwise_on_every_instruction_set(level):
    """numpy's and torch's vectorized exp round differently per instruction
    set; the torch backend evaluates exp as Brian2 does, so AdEx and
    conductance networks stay bitwise at every SIMD level."""
    capability, env = _dispatch_configurations()[level]
    here = pathlib.Path(__file__).parent
    out = subprocess.run([sys.executable, str(here / "parity_worker.py")], cwd=here, capture_output=True, text=True,
                         env={**os.environ, **env, "OMP_NUM_THREADS": "1"}, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["torch_capability"] == capability  # the level asked for is the level that ran
    disabled = set(env["NPY_DISABLE_CPU_FEATURES"].split())
    assert not disabled & set(report["numpy_features"])
    for name, (identical, spikes) in report["results"].items():
        assert spikes > 50, f"{name}: too few spikes to test anything"
        assert identical, f"{name} differs between the backends at SIMD level {level}"


def test_projections_without_synapses_run_on_both_backends():
    """A connectivity pattern may draw no synapse (a sparse probability, an empty mask)."""
    from neuroai.plasticity import BCM, STDP, SynapticNormalization

    net = na.Network(dt=1e-4)
    net.add_input("inp", 3, na.RegularRate(200.0))
    net.add_population("p", 2, na.LIF(i_bias=1.2))
    empty = na.Explicit(np.zeros((3, 2), dtype=bool))
    net.connect("inp", "p", empty, name="plain")
    net.connect("p", "p", na.FixedProbability(0.0), delay=2e-4, name="delayed")
    net.connect("inp", "p", empty, plasticity=STDP(), name="stdp")
    net.connect("inp", "p", empty, plasticity=BCM(), normalization=SynapticNormalization(), name="bcm")
    for name in ("plain", "stdp", "bcm"):
        net.monitor(name, "w")
    net.monitor("p")
    results = run_both(net, 0.05)
    assert_same_spikes(*results, ["p"])
    assert results[0].spike_count("p") > 0
    for result in results:
        assert result.trace("stdp.w").values.shape == (500, 0)


def test_exact_integration_is_bitwise_for_random_time_constants():
    """The constants of the exact LIF update multiply their factors in the
    order Brian2 does, which differs with and without refractoriness (a
    wrong order shows only for some time constants, e.g. tau_m = 2 tau_syn)."""
    rng = np.random.default_rng(7)
    net = na.Network(dt=1e-4)
    net.add_input("inp", 10, na.RegularRate(300.0))
    for k in range(8):
        tau_m = 10e-3 if k < 4 else rng.uniform(5e-3, 30e-3)
        model = na.LIF(tau_m=tau_m, R=rng.uniform(0.5, 2.0), v_rest=rng.uniform(-0.2, 0.2), i_bias=rng.uniform(0, 1),
                       t_ref=1e-3 * (k % 2), reset=("value", "subtract")[k // 2 % 2])
        net.add_population(f"p{k}", 2, model, v_init=na.Uniform(0, 1, seed=k))
        for j in range(1 + k % 3 // 2):  # one or two currents
            tau = tau_m / 2 if k < 4 else rng.uniform(2e-3, 8e-3)
            net.connect("inp", f"p{k}", weight=rng.uniform(0.02, 0.1), synapse=na.ExponentialCurrent(tau, f"I{j}"))
        net.monitor(f"p{k}", "v")
    brian, torch_ = run_both(net, 0.03)
    for key in brian.traces:
        np.testing.assert_array_equal(brian.trace(key).values, torch_.trace(key).values, err_msg=key)
