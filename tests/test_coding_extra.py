"""DeltaEncoder and PopulationCode: semantics, statistics, errors, and use in a network."""
import numpy as np
import pytest
import torch
from snntorch import spikegen

import neuroai as na
from neuroai import decoding


# --- DeltaEncoder -------------------------------------------------------------------

@pytest.mark.parametrize("padding", [False, True])
def test_delta_previous_matches_snntorch_spikegen_delta(padding):
    x = np.random.default_rng(0).normal(size=(60, 3, 5)).cumsum(0) * 0.1
    ref = spikegen.delta(torch.tensor(x), threshold=0.1, padding=padding, off_spike=True).numpy()
    for mode, expected in (("on", ref == 1), ("off", ref == -1), ("both", ref != 0)):
        out = na.DeltaEncoder(0.1, mode=mode, padding=padding).encode(x, 60, 1e-3)
        assert out.shape == (60, 3, 5) and out.dtype == bool
        np.testing.assert_array_equal(out, expected)
        assert out.sum() > 20  # the comparison is not vacuous


def test_delta_padding_decides_the_first_step():
    x = np.full((4, 2), 0.5)
    assert na.DeltaEncoder(0.25).encode(x, 4, 1e-3)[0].all()          # 0.5 - 0 >= 0.25
    assert not na.DeltaEncoder(0.25, padding=True).encode(x, 4, 1e-3).any()


def test_delta_last_event_fires_on_slow_drift_that_previous_misses():
    ramp = (np.arange(9) * 0.125)[:, None]  # exact in binary: 0, 0.125, ..., 1
    prev = na.DeltaEncoder(0.25, padding=True).encode(ramp, 9, 1e-3)
    last = na.DeltaEncoder(0.25, reference="last_event", padding=True).encode(ramp, 9, 1e-3)
    assert not prev.any()
    assert np.nonzero(last[:, 0])[0].tolist() == [2, 4, 6, 8]


def test_delta_last_event_off_events_move_the_reference_in_on_mode():
    x = np.array([0.0, 1.0, 0.0, 1.0, 0.6])[:, None]
    on = na.DeltaEncoder(0.5, mode="on", reference="last_event", padding=True).encode(x, 5, 1e-3)[:, 0]
    off = na.DeltaEncoder(0.5, mode="off", reference="last_event", padding=True).encode(x, 5, 1e-3)[:, 0]
    both = na.DeltaEncoder(0.5, mode="both", reference="last_event", padding=True).encode(x, 5, 1e-3)[:, 0]
    assert on.tolist() == [False, True, False, True, False]
    assert off.tolist() == [False, False, True, False, False]  # 0.6 is only 0.4 below the last event
    np.testing.assert_array_equal(both, on | off)


def test_delta_errors_name_the_parameter():
    with pytest.raises(ValueError, match=r"DeltaEncoder: .*time series of shape \(steps=10"):
        na.DeltaEncoder().encode(np.ones(3), 10, 1e-3)
    with pytest.raises(ValueError, match="DeltaEncoder: parameter 'threshold' must be > 0, got 0"):
        na.DeltaEncoder(threshold=0)
    with pytest.raises(ValueError, match="DeltaEncoder: parameter 'mode' must be one of"):
        na.DeltaEncoder(mode="up")
    with pytest.raises(ValueError, match="DeltaEncoder: parameter 'reference' must be one of"):
        na.DeltaEncoder(reference="first")
    with pytest.raises(TypeError, match="DeltaEncoder: parameter 'padding' must be True or False"):
        na.DeltaEncoder(padding="yes")
    with pytest.raises(ValueError, match="DeltaEncoder: parameter 'values' must be finite"):
        na.DeltaEncoder().encode(np.full((2, 1), np.nan), 2, 1e-3)


def test_delta_input_feeds_the_simulator():
    net = na.Network(dt=1e-3)
    net.add_input("d", 3, na.DeltaEncoder(0.2, mode="both", reference="last_event"))
    net.add_population("out", 1)
    net.connect("d", "out", weight=0.1)
    net.monitor("d")
    signal = np.sin(np.linspace(0, 6 * np.pi, 100))[:, None] * np.array([0.5, 1.0, 2.0])
    result = na.Simulator(net, "torch", seed=0, dtype="float64").run(0.1, {"d": signal})
    np.testing.assert_array_equal(result.raster("d"), net.inputs["d"].encoder.encode(signal, 100, 1e-3))
    counts = result.raster("d").sum(0)
    assert counts[0] < counts[1] < counts[2]  # larger swings cross the threshold more often


# --- PopulationCode ---------------------------------------------------------------

def test_population_preferred_values_and_widths():
    np.testing.assert_allclose(na.PopulationCode(0, 1).preferred(5), [0, 0.25, 0.5, 0.75, 1])
    assert na.PopulationCode(0, 1).width(5) == 0.25
    circ = na.PopulationCode(0, 2 * np.pi, circular=True)
    np.testing.assert_allclose(circ.preferred(4), [0, np.pi / 2, np.pi, 3 * np.pi / 2])
    assert circ.width(4) == pytest.approx(np.pi / 2)
    grouped = na.PopulationCode(-1, 1, sigma=0.3, size=3)
    np.testing.assert_allclose(grouped.preferred(6), [-1, 0, 1, -1, 0, 1])
    assert grouped.width(6) == 0.3


def test_population_rates_are_gaussian_tuning_curves():
    code = na.PopulationCode(0, 1, sigma=0.2, max_rate=80.0)
    r = code.rates(code.stimulus(np.array([0.25, 1.0]), 5))
    assert r.shape == (2, 5)
    np.testing.assert_allclose(r[0], 80 * np.exp(-(0.25 - np.array([0, 0.25, 0.5, 0.75, 1])) ** 2 / 0.08))
    assert np.argmax(r[0]) == 1 and np.argmax(r[1]) == 4 and r[0, 1] == 80.0


def test_population_circular_wraps_around():
    code = na.PopulationCode(0, 2 * np.pi, circular=True, sigma=0.5)
    r = code.rates(code.stimulus(2 * np.pi - 0.05, 8))
    assert np.argmax(r) == 0  # preferred value 0 is 0.05 away across the wrap
    assert r[0] == pytest.approx(100.0 * np.exp(-0.05 ** 2 / (2 * 0.5 ** 2)))
    assert r[7] == pytest.approx(100.0 * np.exp(-(np.pi / 4 - 0.05) ** 2 / (2 * 0.5 ** 2)))
    assert r[1] < r[7]
    r_neg = code.rates(code.stimulus(-0.05, 8))  # the same angle, given one period lower
    np.testing.assert_allclose(r, r_neg)


def test_population_grouped_stimulus_encodes_features_side_by_side():
    code = na.PopulationCode(0, 1, sigma=0.1, size=5)
    x = np.array([[0.0, 1.0, 0.5]])
    values = code.stimulus(x, 15)
    assert values.shape == (1, 15)
    np.testing.assert_array_equal(values[0], np.repeat(x[0], 5))
    peaks = np.argmax(code.rates(values)[0].reshape(3, 5), axis=1)
    assert peaks.tolist() == [0, 4, 2]


def test_population_spike_statistics_and_seed():
    code = na.PopulationCode(0, 1, sigma=0.25, max_rate=100.0)
    values = code.stimulus(0.5, 5)
    s = code.encode(values, 50000, 1e-3, np.random.default_rng(0))
    assert s.shape == (50000, 5) and s.dtype == bool
    rates = code.rates(values)
    assert np.all(np.abs(s.mean(0) / 1e-3 - rates) < 4 * np.sqrt(rates / 50.0))  # 4 sd of a 50 s Poisson rate
    np.testing.assert_array_equal(s, code.encode(values, 50000, 1e-3, np.random.default_rng(0)))


def test_population_errors_name_the_parameter():
    with pytest.raises(ValueError, match=r"PopulationCode: stimulus values must lie in \[low, high\]"):
        na.PopulationCode(0, 1).rates(np.array([0.5, 1.5]))
    with pytest.raises(ValueError, match="parameter 'high' must be > low"):
        na.PopulationCode(1, 1)
    with pytest.raises(ValueError, match="parameter 'sigma' must be > 0"):
        na.PopulationCode(sigma=-1.0)
    with pytest.raises(ValueError, match="n=10 neurons cannot be split into groups of size=3"):
        na.PopulationCode(size=3).preferred(10)
    with pytest.raises(ValueError, match=r"x must have shape \(\.\.\., 2\)"):
        na.PopulationCode(size=3).stimulus(np.zeros((4, 3)), 6)
    with pytest.raises(ValueError, match="max_rate \\* dt = 2.0 exceeds 1 spike per step"):
        na.PopulationCode(max_rate=2000.0).encode(np.full(3, 0.5), 5, 1e-3, np.random.default_rng(0))
    with pytest.raises(TypeError, match="parameter 'circular' must be True or False"):
        na.PopulationCode(circular=1)


def test_network_accepts_the_new_encoders():
    net = na.Network(dt=1e-3)
    assert isinstance(net.add_input("a", 4, na.DeltaEncoder()).encoder, na.DeltaEncoder)
    assert isinstance(net.add_input("b", 4, na.PopulationCode()).encoder, na.PopulationCode)
    with pytest.raises(TypeError, match="'encoder' must be one of .*DeltaEncoder.*PopulationCode"):
        net.add_input("c", 4, object())


def test_population_code_presented_through_simulator_decodes_the_angle():
    code = na.PopulationCode(0, 2 * np.pi, circular=True, sigma=0.6, max_rate=200.0)
    n = 16
    net = na.Network(dt=1e-3)
    net.add_input("pop", n, code)
    net.add_population("out", 1)
    net.connect("pop", "out", weight=0.01)
    net.monitor("pop")
    angles = np.array([0.3, 2.0, 4.0, 6.0])
    result = na.Simulator(net, "torch", seed=1, dtype="float64").present({"pop": code.stimulus(angles, n)}, 0.2)
    counts = decoding.spike_counts(result, "pop")
    estimate = decoding.population_vector(counts, code.preferred(n), period=2 * np.pi)
    assert np.all(np.abs(decoding.angular_difference(estimate, angles)) < 0.25)
