"""Decoders and analyses: counts, rates, first spikes, population vectors,
tuning curves, classifiers and accuracy vs readout window."""
import numpy as np
import pytest

import neuroai as na
from neuroai import decoding
from neuroai.results import SimulationResult, Spikes

DT = 1e-3


def presented(raster_trials: np.ndarray, gap: int = 2, start: int = 5) -> SimulationResult:
    """A SimulationResult laid out as Simulator.present makes it: trials of
    ``raster_trials`` (steps, n_trials, n), each followed by ``gap`` silent
    steps that hold spikes (to be ignored), starting at absolute step ``start``."""
    steps, n_trials, n = raster_trials.shape
    full = np.zeros((n_trials, steps + gap, n), dtype=bool)
    full[:, :steps] = np.moveaxis(raster_trials, 1, 0)
    full[:, steps:] = True  # spikes outside the windows
    t, i = np.nonzero(full.reshape(-1, n))
    windows = start + np.arange(n_trials)[:, None] * (steps + gap) + np.array([[0, steps]])
    return SimulationResult("test", DT, start, n_trials * (steps + gap), {"pop": Spikes(t + start, i, n)},
                            windows=windows)


def example_raster() -> np.ndarray:
    """(10 steps, 2 trials, 3 neurons) with known spikes."""
    r = np.zeros((10, 2, 3), dtype=bool)
    r[[1, 4, 8], 0, 0] = True     # trial 0, neuron 0: steps 1, 4, 8
    r[[3], 0, 2] = True           # trial 0, neuron 2: step 3
    r[[0, 9], 1, 1] = True        # trial 1, neuron 1: steps 0, 9
    return r


def test_spike_counts_raster_and_presented_result_agree():
    r = example_raster()
    expected = np.array([[3, 0, 1], [0, 2, 0]])
    np.testing.assert_array_equal(decoding.spike_counts(r, dt=DT), expected)
    np.testing.assert_array_equal(decoding.spike_counts(presented(r), "pop"), expected)
    np.testing.assert_array_equal(decoding.spike_counts(r, t_start=0.002, t_stop=0.009, dt=DT),
                                  [[2, 0, 1], [0, 0, 0]])  # steps 2..8
    np.testing.assert_array_equal(decoding.spike_counts(presented(r), "pop", t_stop=0.005), [[2, 0, 1], [0, 1, 0]])
    single = decoding.spike_counts(r[:, 0], dt=DT)
    assert single.shape == (3,) and single.tolist() == [3, 0, 1]


def test_spike_counts_of_a_plain_run_is_one_trial():
    net = na.Network(dt=DT)
    net.add_input("inp", 4, na.RegularRate(max_rate=100.0))
    net.add_population("out", 1)
    net.connect("inp", "out", weight=0.0)
    net.monitor("inp")
    sim = na.Simulator(net, "torch", seed=0)
    sim.run(0.05)
    result = sim.run(0.1, {"inp": np.array([1.0, 0.5, 0.2, 0.0])})  # starts at step 50
    np.testing.assert_array_equal(decoding.spike_counts(result, "inp"), [10, 5, 2, 0])
    np.testing.assert_array_equal(decoding.spike_counts(result, "inp", t_stop=0.05), [5, 2, 1, 0])


def test_windowed_rate_bins_and_sliding_windows():
    r = example_raster()
    starts, rates = decoding.windowed_rate(r, window=0.005, dt=DT)
    np.testing.assert_allclose(starts, [0.0, 0.005])
    assert rates.shape == (2, 2, 3)
    np.testing.assert_allclose(rates[:, 0, 0], [2 / 0.005, 1 / 0.005])
    np.testing.assert_allclose(rates[:, 1, 1], [200.0, 200.0])
    starts, rates = decoding.windowed_rate(presented(r), "pop", window=0.004, step=0.002)
    np.testing.assert_allclose(starts, [0, 0.002, 0.004, 0.006])
    np.testing.assert_allclose(rates[:, 0, 0] * 0.004, [1, 1, 1, 1])   # steps 1 | 4 | 4 | 8
    np.testing.assert_allclose(rates[:, 0, 2] * 0.004, [1, 1, 0, 0])   # step 3
    for k, s in enumerate(starts):
        np.testing.assert_allclose(rates[k] * 0.004, decoding.spike_counts(r, t_start=s, t_stop=s + 0.004, dt=DT))


def test_first_spike_times_are_relative_to_onset():
    r = example_raster()
    expected = np.array([[0.001, np.inf, 0.003], [np.inf, 0.0, np.inf]])
    np.testing.assert_allclose(decoding.first_spike_times(r, dt=DT), expected)
    np.testing.assert_allclose(decoding.first_spike_times(presented(r, start=17), "pop"), expected)


def test_inputs_are_validated():
    r = example_raster()
    with pytest.raises(ValueError, match="spike_counts: parameter 'dt' .* is required with a spike raster"):
        decoding.spike_counts(r)
    with pytest.raises(ValueError, match="parameter 'name' is only for a SimulationResult"):
        decoding.spike_counts(r, "pop", dt=DT)
    with pytest.raises(ValueError, match=r"parameter 'name' must name .*recorded: \['pop'\]"):
        decoding.first_spike_times(presented(r))
    with pytest.raises(TypeError, match="boolean \\(0/1\\) raster"):
        decoding.spike_counts(r * 2.5, dt=DT)
    with pytest.raises(ValueError, match="'t_stop' must be later than t_start"):
        decoding.spike_counts(r, t_start=0.005, t_stop=0.002, dt=DT)
    with pytest.raises(ValueError, match="'window' must fit in a trial"):
        decoding.windowed_rate(r, window=0.05, dt=DT)
    with pytest.raises(ValueError, match="'preferred' must have shape \\(n,\\)"):
        decoding.population_vector(np.ones((2, 3)), np.ones(4))


def test_population_vector_on_angles_and_lines():
    pref = np.linspace(0, 2 * np.pi, 8, endpoint=False)
    for theta in (0.0, 1.0, 3.0, 5.5):
        rates = 10 + 20 * np.cos(pref - theta)
        estimate = decoding.population_vector(rates, pref, period=2 * np.pi, baseline=10)
        assert 0 <= estimate < 2 * np.pi and abs(decoding.angular_difference(estimate, theta)) < 1e-12
    batch = np.stack([np.cos(pref - 1.0) + 1, np.cos(pref - 2.0) + 1])
    np.testing.assert_allclose(decoding.population_vector(batch, pref, period=2 * np.pi), [1.0, 2.0])
    hours = decoding.population_vector(np.eye(12)[3], np.arange(12.0), period=12.0)
    assert hours == pytest.approx(3.0)
    line = decoding.population_vector(np.array([[0, 1, 3, 0], [0, 0, 0, 0]]), np.array([0.0, 1.0, 2.0, 3.0]))
    assert line[0] == pytest.approx(1.75) and np.isnan(line[1])


def test_angular_difference_wraps():
    np.testing.assert_allclose(decoding.angular_difference([0.1, 6.2, np.pi], [6.2, 0.1, 0.0]),
                               [0.1 - 6.2 + 2 * np.pi, 6.2 - 0.1 - 2 * np.pi, -np.pi])


def test_tuning_curves_group_trials_by_stimulus():
    responses = np.array([[1.0, 10], [3, 10], [5, 0], [7, 2]])
    tc = decoding.tuning_curves(responses, np.array([0.5, 0.5, 0.1, 0.1]))
    np.testing.assert_allclose(tc.stimuli, [0.1, 0.5])
    np.testing.assert_allclose(tc.mean, [[6, 1], [2, 10]])
    np.testing.assert_allclose(tc.sem, [[np.sqrt(2) / np.sqrt(2), np.sqrt(2) / np.sqrt(2)], [1, 0]])
    np.testing.assert_array_equal(tc.trials, [2, 2])


def test_fit_cosine_tuning_recovers_parameters():
    angles = np.random.default_rng(0).uniform(0, 2 * np.pi, 50)
    truth = decoding.CosineTuning(np.array([20.0, 5.0]), np.array([10.0, 4.0]), np.array([1.0, 5.0]))
    fit = decoding.fit_cosine_tuning(truth.predict(angles), angles)
    np.testing.assert_allclose(fit.baseline, truth.baseline)
    np.testing.assert_allclose(fit.depth, truth.depth)
    np.testing.assert_allclose(fit.preferred, truth.preferred)


def test_classifiers_and_linear_decoder():
    rng = np.random.default_rng(0)
    means = np.array([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0]])
    y = np.repeat(np.array(["a", "b", "c"]), 40)
    X = means[np.repeat(np.arange(3), 40)] + rng.normal(size=(120, 2))
    for model in (decoding.NearestClassMean(), decoding.LinearClassifier()):
        assert np.mean(model.fit(X, y).predict(X) == y) > 0.9
    W = rng.normal(size=(4, 2))
    Z = rng.normal(size=(100, 4))
    dec = decoding.LinearDecoder(ridge=0.0).fit(Z, Z @ W + 3.0)
    np.testing.assert_allclose(dec.W_, W, atol=1e-10)
    np.testing.assert_allclose(dec.predict(Z[:3]), Z[:3] @ W + 3.0, atol=1e-10)


def test_folds_are_stratified_and_accuracy_reflects_information():
    y = np.repeat([0, 1], [30, 10])
    fold = decoding.fold_indices(y, 5, seed=3)
    for k in range(5):
        assert np.sum((fold == k) & (y == 0)) == 6 and np.sum((fold == k) & (y == 1)) == 2
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(4), 25)
    informative = 3.0 * np.eye(4)[labels, :3] + rng.normal(size=(100, 3)) * 0.5
    noise = rng.normal(size=(100, 3))
    assert decoding.cross_validated_accuracy(informative, labels) > 0.9
    assert decoding.cross_validated_accuracy(noise, labels) < 0.45
    assert decoding.cross_validated_accuracy(informative, labels, classifier="linear") > 0.9


def test_accuracy_grows_with_the_readout_window():
    """Classes differ only in which neurons fire in 20-40 ms; before that all
    trials fire the same background."""
    rng = np.random.default_rng(0)
    n_trials, n, steps = 120, 6, 60
    labels = np.repeat(np.arange(3), n_trials // 3)
    p = np.full((steps, n_trials, n), 0.05)
    p[20:40] += 0.4 * (np.arange(n)[None, None, :] // 2 == labels[None, :, None])
    raster = rng.random(p.shape) < p
    curve = decoding.accuracy_vs_window(raster, None, labels, [0.01, 0.02, 0.03, 0.05], dt=DT)
    assert curve.chance == pytest.approx(1 / 3)
    assert curve.accuracy[0] < 0.6 and curve.accuracy[1] < 0.6
    assert curve.accuracy[-1] > 0.95
    assert np.all(np.diff(curve.spikes) > 0)
    np.testing.assert_allclose(curve.spikes[-1], decoding.spike_counts(raster, t_stop=0.05, dt=DT).sum(-1).mean())
    from_result = decoding.accuracy_vs_window(presented(raster), "pop", labels, [0.01, 0.02, 0.03, 0.05])
    np.testing.assert_array_equal(from_result.accuracy, curve.accuracy)


def test_first_spike_readout_of_a_latency_code():
    values = np.repeat(np.array([[0.9, 0.1], [0.5, 0.5], [0.1, 0.9]]), 20, axis=0)
    labels = np.repeat(np.arange(3), 20)
    raster = na.Latency(t_max=0.05).encode(values, 60, DT)
    curve = decoding.accuracy_vs_window(raster, None, labels, [0.004, 0.02, 0.03, 0.06], readout="first_spike",
                                        dt=DT)
    # by 4 ms nothing fired (chance); by 20 ms the 0.9 neurons fired (5 ms), and the class whose
    # neurons are both still silent is told apart by that silence
    assert curve.accuracy.tolist() == pytest.approx([1 / 3, 1.0, 1.0, 1.0])
    np.testing.assert_allclose(curve.spikes, [0, 2 / 3, 4 / 3, 2])
    with pytest.raises(ValueError, match="'readout' must be one of"):
        decoding.accuracy_vs_window(raster, None, labels, [0.01], readout="rank", dt=DT)
    with pytest.raises(ValueError, match="'labels' must have shape \\(60,\\)"):
        decoding.accuracy_vs_window(raster, None, labels[:5], [0.01], dt=DT)


def test_label_assignment_labels_neurons_by_their_preferred_class_and_votes():
    # neurons 0-1 answer class 7, neuron 2 class 3, neuron 3 never fires
    X = np.array([[5, 4, 0, 0], [6, 3, 1, 0], [0, 1, 9, 0], [1, 0, 7, 0]], dtype=float)
    y = np.array([7, 7, 3, 3])
    ro = decoding.LabelAssignment().fit(X, y)
    assert ro.labels_.tolist() == [7, 7, 3, -1]
    # votes are mean responses of each class's neurons: (2+2)/2 = 2 for 7 against 3 for 3
    assert ro.predict([[2, 2, 3, 0], [4, 0, 1, 9], [0, 0, 0, 5]]).tolist() == [3, 7, -1]
    with pytest.raises(ValueError, match="one label per trial"):
        decoding.LabelAssignment().fit(X, y[:3])
    with pytest.raises(ValueError, match="4 columns"):
        ro.predict(np.ones((2, 3)))
