"""Export of SimulationResult to Neo, and spike trains back to a raster."""
import sys

import numpy as np
import pytest

import neuroai as na

import neo
import quantities as pq
from neuroai.interop.neo import raster_from_neo, to_neo  # noqa: E402
from neuroai.statistics import spike_trains  # noqa: E402

DT = 1e-4


def small_network() -> na.Network:
    net = na.Network(dt=DT)
    net.add_input("inp", 12, na.PoissonRate(max_rate=80.0))
    net.add_population("out", 15, na.LIF(tau_m=10e-3, t_ref=1e-3), v_init=na.Uniform(0, 1, seed=0))
    net.connect("inp", "out", na.FixedProbability(0.5, seed=1), weight=na.Uniform(0.1, 0.5, seed=2))
    net.monitor("out")
    net.monitor("inp")
    net.monitor("out", "v", every=4)
    net.monitor("inp_to_out", "w", every=1000)  # first run: steps 0 and 1000; second run: step 2000 only
    return net


@pytest.fixture(scope="module")
def runs():
    """Two successive torch runs of the same simulator (the second spans [0.15, 0.25) s)."""
    net = small_network()
    sim = na.Simulator(net, "torch", seed=3, dtype="float64")
    first = sim.run(0.15)
    second = sim.run(0.1)
    return net, first, second


def test_block_layout_one_segment_one_group_per_target(runs):
    net, r, _ = runs
    block = to_neo(r)
    assert isinstance(block, neo.Block) and len(block.segments) == 1
    seg = block.segments[0]
    assert [g.name for g in block.groups] == ["out", "inp", "inp_to_out"]
    assert len(seg.spiketrains) == 15 + 12
    groups = {g.name: g for g in block.groups}
    assert len(groups["out"].spiketrains) == 15 and len(groups["inp"].spiketrains) == 12
    assert [s.name for s in groups["out"].analogsignals] == ["out.v"]
    assert [s.name for s in groups["inp_to_out"].analogsignals] == ["inp_to_out.w"]
    assert block.annotations["backend"] == "torch" and block.annotations["dt"] == DT
    assert block.annotations["n_steps"] == 1500 and block.annotations["start_step"] == 0
    assert len(seg.epochs) == 0  # a plain run has no presentation windows


def test_spike_trains_carry_annotations_span_and_sampling_rate(runs):
    _, r, _ = runs
    block = to_neo(r)
    for i, st in enumerate(block.groups[0].spiketrains):
        assert st.annotations == {"population": "out", "neuron": i, "backend": "torch"}
        assert st.name == f"out[{i}]"
        assert st.t_start == 0 * pq.s and st.t_stop.rescale("s").magnitude == pytest.approx(0.15)
        assert st.sampling_rate.rescale("Hz").magnitude == pytest.approx(1 / DT)
        assert st.units == pq.s


@pytest.mark.parametrize("which", [0, 1])
def test_spike_times_and_indices_round_trip_exactly(runs, which):
    net, *results = runs
    r = results[which]
    block = to_neo(r)
    for group in block.groups[:2]:
        pop = group.name
        # times: neuron by neuron, bit for bit
        for st, t in zip(group.spiketrains, spike_trains(r, pop)):
            np.testing.assert_array_equal(st.rescale("s").magnitude, t)
        # indices and steps: back through the raster
        assert group.spiketrains[0].t_start.rescale("s").magnitude == r.start_step * DT
        raster = raster_from_neo(group, r.dt)
        np.testing.assert_array_equal(raster, r.raster(pop))
        steps, idx = np.nonzero(raster)
        order = np.lexsort((idx, steps))
        np.testing.assert_array_equal(steps[order] + r.start_step, r._spikes(pop).steps)
        np.testing.assert_array_equal(idx[order], r.spike_indices(pop))
        assert sum(len(st) for st in group.spiketrains) == r.spike_count(pop)


def test_exported_input_spikes_replay_through_a_spike_array_input(runs):
    """Spikes exported to Neo drive a SpikeArray input and come out identical."""
    net, r, _ = runs
    raster = raster_from_neo(to_neo(r).groups[1], r.dt)
    replay = na.Network(dt=DT)
    replay.add_input("inp", 12, na.SpikeArray())
    replay.add_population("out", 15, na.LIF(tau_m=10e-3, t_ref=1e-3), v_init=na.Uniform(0, 1, seed=0))
    replay.connect("inp", "out", na.FixedProbability(0.5, seed=1), weight=na.Uniform(0.1, 0.5, seed=2))
    replay.monitor("out")
    again = na.Simulator(replay, "torch", seed=99, dtype="float64").run(0.15, inputs={"inp": raster})
    assert na.spike_agreement(r, again, "out") == (r.spike_count("out"),) * 3


def test_traces_become_analog_signals_with_their_sampling(runs):
    _, r, second = runs
    for res in (r, second):
        seg = to_neo(res).segments[0]
        sig = {s.name: s for s in seg.analogsignals}
        v, tr = sig["out.v"], res.trace("out.v")
        assert v.shape == (len(tr.steps), 15) == tr.values.shape
        assert v.sampling_period.rescale("s").magnitude == pytest.approx(4 * DT)
        assert v.sampling_rate.rescale("Hz").magnitude == pytest.approx(1 / (4 * DT))
        assert v.t_start.rescale("s").magnitude == pytest.approx(tr.steps[0] * DT)
        np.testing.assert_array_equal(v.magnitude, tr.values)
        np.testing.assert_allclose(v.times.rescale("s").magnitude, tr.steps * DT, rtol=0, atol=1e-12)
        assert v.units == pq.dimensionless
        assert v.annotations == {"target": "out", "variable": "v", "backend": "torch"}
        np.testing.assert_array_equal(v.array_annotations["channel"], np.arange(15))
    # first run: weights sampled at steps 0 and 1000, one channel per synapse
    w = {s.name: s for s in to_neo(r).segments[0].analogsignals}["inp_to_out.w"]
    assert w.shape == r.trace("inp_to_out.w").values.shape and w.shape[0] == 2
    assert w.sampling_period.rescale("s").magnitude == pytest.approx(1000 * DT)


def test_single_sample_trace_is_an_irregularly_sampled_signal(runs):
    _, _, second = runs
    w = second.trace("inp_to_out.w")
    assert w.steps.tolist() == [2000]  # no sampling period can be read off one sample
    seg = to_neo(second).segments[0]
    assert [s.name for s in seg.analogsignals] == ["out.v"]
    (sig,) = seg.irregularlysampledsignals
    assert sig.name == "inp_to_out.w" and sig.shape == w.values.shape
    np.testing.assert_allclose(sig.times.rescale("s").magnitude, [2000 * DT])
    np.testing.assert_array_equal(sig.magnitude, w.values)


def test_irregular_trace_spacing():
    """A trace with uneven steps (not produced by a monitor, but legal) is kept with its times;
    an empty one is left out."""
    trace = na.Trace(np.array([0, 3, 10]), np.arange(6.0).reshape(3, 2))
    empty = na.Trace(np.zeros(0, dtype=np.int64), np.zeros((0, 2)))
    res = na.SimulationResult("torch", DT, 0, 20, {}, {"x.v": trace, "y.v": empty})
    seg = to_neo(res).segments[0]
    assert len(seg.analogsignals) == 0 and len(seg.irregularlysampledsignals) == 1
    sig = seg.irregularlysampledsignals[0]
    np.testing.assert_allclose(sig.times.rescale("s").magnitude, [0, 3 * DT, 10 * DT])
    np.testing.assert_array_equal(sig.magnitude, trace.values)


def test_units_from_mapping_or_physical_network(runs):
    _, r, _ = runs
    sig = {s.name: s for s in to_neo(r, units={"v": "mV"}).segments[0].analogsignals}
    assert sig["out.v"].units == pq.mV and sig["inp_to_out.w"].units == pq.dimensionless
    sig = {s.name: s for s in to_neo(r, units={"out.v": "V", "v": "mV"}).segments[0].analogsignals}
    assert sig["out.v"].units == pq.V  # the full key wins

    net = na.Network(dt=DT)
    net.add_population("cell", 3, na.LIF.physical(i_bias=0.3e-9))
    net.monitor("cell", "v", every=10)
    res = na.Simulator(net, "torch", dtype="float64").run(0.01)
    v = to_neo(res, network=net).segments[0].analogsignals[0]
    assert v.units == pq.V
    assert np.all(v.magnitude < 0)  # volts around the rest potential of -70 mV


def test_presentation_windows_become_an_epoch():
    net = na.Network(dt=DT)
    net.add_input("inp", 4, na.PoissonRate(max_rate=200.0))
    net.add_population("out", 2, na.LIF())
    net.connect("inp", "out", weight=0.1)
    net.monitor("inp")
    res = na.Simulator(net, "torch", seed=1).present({"inp": np.eye(4)[:3]}, t_on=0.01, t_off=0.005)
    (epoch,) = to_neo(res).segments[0].epochs
    assert epoch.name == "presentations" and len(epoch) == 3
    np.testing.assert_allclose(epoch.times.rescale("s").magnitude, res.windows[:, 0] * DT)
    np.testing.assert_allclose(epoch.durations.rescale("s").magnitude, 0.01)


def test_block_survives_neo_io(runs, tmp_path):
    _, r, _ = runs
    path = tmp_path / "run.pkl"
    neo.io.PickleIO(str(path)).write_block(to_neo(r))
    block = neo.io.PickleIO(str(path)).read_block()
    st = block.segments[0].spiketrains[3]
    assert st.annotations["population"] == "out" and st.annotations["neuron"] == 3
    np.testing.assert_array_equal(st.magnitude, spike_trains(r, "out")[3])


def test_raster_from_neo_rejects_what_a_raster_cannot_hold():
    st = neo.SpikeTrain([0.0101, 0.01014], units="s", t_stop=0.1)
    with pytest.raises(ValueError, match="two spikes in one step"):
        raster_from_neo([st], 1e-3)
    assert raster_from_neo([st], 1e-5).sum() == 2
    with pytest.raises(ValueError, match="outside"):
        raster_from_neo([st], 1e-3, t_stop=0.005)
    with pytest.raises(TypeError, match="neo.SpikeTrain"):
        raster_from_neo([np.array([0.1])], 1e-3)
    with pytest.raises(ValueError, match="'dt'"):
        raster_from_neo([st], 0.0)
    ms = neo.SpikeTrain([10.0, 20.0], units="ms", t_stop=50.0)
    assert np.flatnonzero(raster_from_neo([ms], 1e-3)[:, 0]).tolist() == [10, 20]


def test_to_neo_type_error_and_missing_extra(monkeypatch, runs):
    _, r, _ = runs
    with pytest.raises(TypeError, match="SimulationResult"):
        to_neo({"spikes": []})
    monkeypatch.setitem(sys.modules, "neo", None)
    with pytest.raises(ImportError, match=r'pip install "neuroai\[neo\]"'):
        to_neo(r)
