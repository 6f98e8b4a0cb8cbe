"""Encoders: shapes, statistics, determinism."""
import numpy as np
import pytest

import neuroai as na


def test_poisson_rate_statistics_and_seed():
    enc = na.PoissonRate(max_rate=100.0)
    x = np.array([0.0, 0.25, 1.0])
    s = enc.encode(x, 20000, 1e-3, np.random.default_rng(0))
    assert s.shape == (20000, 3) and s.dtype == bool
    np.testing.assert_allclose(s.mean(0) / 1e-3, [0, 25, 100], rtol=0.05, atol=0.5)
    again = enc.encode(x, 20000, 1e-3, np.random.default_rng(0))
    np.testing.assert_array_equal(s, again)


def test_regular_rate_is_evenly_spaced():
    s = na.RegularRate(max_rate=100.0).encode(np.array([1.0, 0.5, 0.0]), 1000, 1e-4, None)
    assert s.sum(0).tolist() == [10, 5, 0]
    np.testing.assert_array_equal(np.diff(np.nonzero(s[:, 0])[0]), 100)
    np.testing.assert_array_equal(np.diff(np.nonzero(s[:, 1])[0]), 200)


def test_latency_linear_and_log():
    lin = na.Latency(t_max=10e-3).encode(np.array([1.0, 0.5, 0.01, 0.0]), 200, 1e-4, None)
    assert lin.sum(0).tolist() == [1, 1, 1, 0]  # a value at the threshold (0) stays silent
    assert np.argmax(lin, axis=0)[:3].tolist() == [0, 50, 99]
    log = na.Latency(kind="log", tau=5e-3, threshold=0.2)
    t = log.spike_times(np.array([1.0, 0.5, 0.2]))
    np.testing.assert_allclose(t[:2], 5e-3 * np.log([1.0 / 0.8, 0.5 / 0.3]))
    assert np.isinf(t[2])
    assert t[0] < t[1]  # stronger input fires earlier


def test_batched_values_give_time_first_rasters():
    s = na.PoissonRate(50.0).encode(np.full((4, 7), 0.5), 30, 1e-3, np.random.default_rng(1))
    assert s.shape == (30, 4, 7)


def test_spike_array_is_passed_through():
    raster = np.zeros((5, 2), dtype=int)
    raster[3, 1] = 1
    out = na.SpikeArray().encode(raster, 5, 1e-3)
    assert out.dtype == bool and out[3, 1] and out.sum() == 1
    with pytest.raises(TypeError, match="boolean or 0/1"):
        na.SpikeArray().encode(raster * 2, 5, 1e-3)


def test_time_series_inputs_given_nothing_stay_silent_and_rate_inputs_fire():
    net = na.Network(dt=1e-3)
    net.add_input("delta", 3, na.DeltaEncoder())
    net.add_input("raw", 2, na.SpikeArray())
    net.add_input("rate", 2, na.RegularRate(max_rate=100.0))
    for name in ("delta", "raw", "rate"):
        net.monitor(name)
    result = na.Simulator(net, "torch").run(0.1)
    assert result.spike_count("delta") == result.spike_count("raw") == 0
    assert result.spike_count("rate") == 20


def test_pairing_protocol_places_each_post_spike_lag_after_its_pre_spike():
    from neuroai.coding import pairing_protocol

    dt = 1e-4
    pre, drive = pairing_protocol(dt, lags=[5e-3, -3e-3], periods=[0.1, 0.05], pairs=3, margin=0.01)
    assert pre.dtype == bool and pre.shape == drive.shape and pre.shape[1] == 2
    for k, (lag, period) in enumerate(((50, 1000), (-30, 500))):
        t_pre, t_drive = np.flatnonzero(pre[:, k]), np.flatnonzero(drive[:, k])
        assert len(t_pre) == 3 and np.all(np.diff(t_pre) == period)
        np.testing.assert_array_equal(t_drive + 1, t_pre + lag)  # the drive fires the neuron one step later
    events = np.flatnonzero(pre.any(1) | drive.any(1))
    assert events[0] >= 100 - 1 and len(pre) - 1 - events[-1] >= 100  # 10 ms of silence either side
    with pytest.raises(ValueError, match="'lags' and 'periods' must be 1-D arrays of one length"):
        pairing_protocol(dt, lags=[0.0, 1e-3], periods=[0.1])
