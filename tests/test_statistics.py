"""Firing statistics: rates, ISI CV, van Rossum and Victor-Purpura distances,
on both paths (Elephant and numpy), checked against each other and against
the definitions."""
import itertools
import sys

import numpy as np
import pytest

import neuroai as na
from neuroai import statistics as st

DT = 1e-4
PATHS = ["numpy", "elephant"]  # elephant comes with neuroai[dev]


@pytest.fixture(scope="module")
def result():
    """A real torch run: Poisson and regular inputs driving a small LIF population."""
    net = na.Network(dt=DT)
    net.add_input("poisson", 20, na.PoissonRate(max_rate=100.0))
    net.add_input("regular", 10, na.RegularRate(max_rate=50.0))
    net.add_population("out", 20, na.LIF(tau_m=10e-3, t_ref=2e-3), v_init=na.Uniform(0, 1, seed=0))
    net.connect("poisson", "out", na.FixedProbability(0.5, seed=1), weight=na.Uniform(0.1, 0.4, seed=2))
    net.connect("regular", "out", na.FixedProbability(0.3, seed=3), weight=0.2)
    for name in ("poisson", "regular", "out"):
        net.monitor(name)
    return na.Simulator(net, "torch", seed=5, dtype="float64").run(1.0)


def random_trains(seed, n=12, max_spikes=30, t=1.0):
    rng = np.random.default_rng(seed)
    return [np.sort(rng.uniform(0, t, rng.integers(0, max_spikes))) for _ in range(n)]


# --- spike trains and rates --------------------------------------------------------

def test_spike_trains_split_a_population_by_neuron(result):
    trains = st.spike_trains(result, "out")
    assert len(trains) == 20
    assert sum(len(t) for t in trains) == result.spike_count("out")
    for i, t in enumerate(trains):
        assert np.all(np.diff(t) > 0)
        expected = np.sort(result.spike_times("out")[result.spike_indices("out") == i])
        np.testing.assert_array_equal(t, expected)


@pytest.mark.parametrize("method", PATHS)
def test_firing_rates_in_hz(result, method):
    rates = st.firing_rates(result, "regular", method=method)
    np.testing.assert_allclose(rates, 50.0, rtol=0.05)  # RegularRate(max_rate=50 Hz) for 1 s
    np.testing.assert_allclose(st.firing_rates(result, "out", method=method), result.rates("out"), rtol=1e-12)
    assert st.firing_rates(result, "poisson", method=method).mean() == pytest.approx(100.0, rel=0.1)


# --- ISI coefficient of variation --------------------------------------------------

@pytest.mark.parametrize("method", PATHS)
def test_isi_cv_is_one_for_poisson_and_zero_for_regular(result, method):
    cv_poisson = st.isi_cv(result, "poisson", method=method)
    # Bernoulli spikes per step of dt: geometric ISIs, CV = sqrt(1 - rate*dt) ~ 0.995
    assert cv_poisson.mean() == pytest.approx(1.0, abs=0.08)
    assert np.all((cv_poisson > 0.6) & (cv_poisson < 1.4))
    np.testing.assert_allclose(st.isi_cv(result, "regular", method=method), 0.0, atol=1e-9)
    # long synthetic trains: tighter
    rng = np.random.default_rng(0)
    poisson = [np.cumsum(rng.exponential(1 / 20.0, 4000)) for _ in range(5)]
    np.testing.assert_allclose(st.isi_cv(poisson, method=method), 1.0, atol=0.05)
    gamma4 = [np.cumsum(rng.gamma(4.0, 1 / 80.0, 4000)) for _ in range(5)]  # CV of a gamma(k) process: 1/sqrt(k)
    np.testing.assert_allclose(st.isi_cv(gamma4, method=method), 0.5, atol=0.03)


@pytest.mark.parametrize("method", PATHS)
def test_isi_cv_by_hand_and_too_few_intervals(method):
    trains = [[0.0, 0.1, 0.3], [0.5], [], [0.1, 0.2], [0.2, 0.0, 0.1, 0.4]]
    isis = np.array([0.1, 0.2])
    expected_first = isis.std() / isis.mean()  # = 1/3
    cv = st.isi_cv(trains, method=method)
    assert cv[0] == pytest.approx(expected_first) and cv[0] == pytest.approx(1 / 3)
    assert np.isnan(cv[1]) and np.isnan(cv[2]) and np.isnan(cv[3])  # fewer than 2 intervals
    assert cv[4] == pytest.approx(np.std([0.1, 0.1, 0.2]) / np.mean([0.1, 0.1, 0.2]))  # unsorted input is sorted
    assert st.isi_cv(trains, min_intervals=1, method=method)[3] == 0.0


def test_isi_cv_paths_agree(result):
    for pop in ("poisson", "out"):
        a = st.isi_cv(result, pop, method="numpy")
        b = st.isi_cv(result, pop, method="elephant")
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
        np.testing.assert_allclose(a, b, rtol=1e-12, equal_nan=True)
    trains = random_trains(1)
    np.testing.assert_allclose(st.isi_cv(trains, method="numpy"), st.isi_cv(trains, method="elephant"),
                               rtol=1e-12, equal_nan=True)


# --- binned counts, population Fano factor, synchrony chi -----------------------------

def counts_by_histogram(trains, bin_size, t_start, t_stop):
    """The count matrix by np.histogram, train by train (spikes kept off the bins' edges by the callers)."""
    n_bins = int(np.floor((t_stop - t_start) / bin_size + 1e-8))
    edges = t_start + bin_size * np.arange(n_bins + 1)
    return np.array([np.histogram(t, edges)[0] for t in trains])


def test_spike_counts_by_hand_and_against_histograms(result):
    trains = [[0.05, 0.15, 0.16, 0.35], [], [0.399, 0.45], [-0.1, 0.25]]
    np.testing.assert_array_equal(st.spike_counts(trains, bin_size=0.1, t_stop=0.4),
                                  [[1, 2, 0, 1], [0, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]])  # outside: dropped
    # a partial last bin is left out; t_start shifts the grid
    np.testing.assert_array_equal(st.spike_counts(trains, bin_size=0.1, t_start=0.05, t_stop=0.4),
                                  [[1, 2, 0], [0, 0, 0], [0, 0, 0], [0, 0, 1]])  # 0.15: on an edge
    rng = np.random.default_rng(11)
    random = [np.sort(rng.uniform(0, 2.0, k)) for k in rng.integers(0, 80, 15)]
    np.testing.assert_array_equal(st.spike_counts(random, bin_size=0.013, t_start=0.1, t_stop=1.9),
                                  counts_by_histogram(random, 0.013, 0.1, 1.9))
    # a result: spikes on the grid of steps land in their step's bin (bins of 10 steps)
    counts = st.spike_counts(result, "out", bin_size=10 * DT)
    steps, idx = result.spikes["out"].steps - result.start_step, result.spikes["out"].indices
    expected = np.zeros((20, result.n_steps // 10), dtype=np.int64)
    np.add.at(expected, (idx, steps // 10), 1)
    np.testing.assert_array_equal(counts, expected)


def test_spike_counts_agree_with_elephant_binning():
    import quantities as pq
    from elephant.conversion import BinnedSpikeTrain
    import neo

    rng = np.random.default_rng(12)
    trains = [np.sort(rng.uniform(0, 1.0, k)) for k in rng.integers(1, 60, 8)]
    ours = st.spike_counts(trains, bin_size=0.02, t_stop=1.0)
    theirs = BinnedSpikeTrain([neo.SpikeTrain(t, t_stop=1.0, units="s") for t in trains], bin_size=0.02 * pq.s)
    np.testing.assert_array_equal(ours, theirs.to_array())


def test_fano_factor_and_chi_by_hand():
    # counts [[2, 0, 1, 1], [0, 0, 1, 3]]: population counts [2, 0, 2, 4]: mean 2, variance 2
    trains = [[0.01, 0.02, 0.25, 0.35], [0.21, 0.31, 0.32, 0.33]]
    assert st.population_fano_factor(trains, bin_size=0.1, t_stop=0.4) == pytest.approx(1.0)
    # chi^2 = Var(mean count) / mean(Var(count)) = (2 / 4) / ((0.5 + 1.5) / 2)
    assert st.synchrony_chi(trains, bin_size=0.1, t_stop=0.4) == pytest.approx(np.sqrt(0.5))
    # the same from the count matrix, computed independently
    c = np.array([[2, 0, 1, 1], [0, 0, 1, 3]])
    assert np.sqrt(c.mean(0).var() / c.var(1).mean()) == pytest.approx(np.sqrt(0.5))
    # identical trains: chi is 1, and the Fano factor grows N-fold over one train's
    one = [0.01, 0.02, 0.25, 0.35]
    assert st.synchrony_chi([one] * 5, bin_size=0.1, t_stop=0.4) == 1.0
    assert st.population_fano_factor([one] * 5, bin_size=0.1, t_stop=0.4) == pytest.approx(
        5 * st.population_fano_factor([one], bin_size=0.1, t_stop=0.4))
    # nothing varies, or no spikes: undefined
    assert np.isnan(st.synchrony_chi([[], []], bin_size=0.1, t_stop=0.4))
    assert np.isnan(st.population_fano_factor([[], []], bin_size=0.1, t_stop=0.4))
    assert np.isnan(st.synchrony_chi([[0.05, 0.15, 0.25, 0.35]], bin_size=0.1, t_stop=0.4))  # regular: var 0


def test_poisson_trains_have_fano_one_and_chi_one_over_sqrt_n():
    rng = np.random.default_rng(13)
    n, t_stop, rate = 200, 20.0, 20.0
    trains = [np.sort(rng.uniform(0, t_stop, rng.poisson(rate * t_stop))) for _ in range(n)]
    for bin_size in (0.002, 0.01, 0.05):  # 10000, 2000 and 400 bins
        assert st.population_fano_factor(trains, bin_size=bin_size, t_stop=t_stop) == pytest.approx(1.0, abs=0.1)
        assert st.synchrony_chi(trains, bin_size=bin_size, t_stop=t_stop) == pytest.approx(1 / np.sqrt(n), rel=0.1)
    # the same against the dense count matrix
    c = counts_by_histogram(trains, 0.01, 0.0, t_stop)
    assert st.synchrony_chi(trains, bin_size=0.01, t_stop=t_stop) == pytest.approx(
        np.sqrt(c.mean(0).var() / c.var(1).mean()), rel=1e-12)
    assert st.population_fano_factor(trains, bin_size=0.01, t_stop=t_stop) == pytest.approx(
        c.sum(0).var() / c.sum(0).mean(), rel=1e-12)


def test_shared_spikes_raise_fano_and_chi():
    """Each neuron keeps a fraction of one common Poisson train (plus its own spikes): chi^2 -> fraction kept
    as N grows, against 1/N for independent trains; the Fano factor of the population count is 1 + (N-1) p."""
    rng = np.random.default_rng(14)
    n, t_stop, rate, p = 100, 50.0, 10.0, 0.3
    common = np.sort(rng.uniform(0, t_stop, rng.poisson(rate * t_stop)))
    trains = [np.sort(np.concatenate([common[rng.random(common.size) < p],
                                      rng.uniform(0, t_stop, rng.poisson((1 - p) * rate * t_stop))]))
              for _ in range(n)]
    # mean counts m = rate * bin; Var(c_i) = m; Cov(c_i, c_j) = p^2 m; so chi^2 = p^2 + (1 - p^2) / N
    assert st.synchrony_chi(trains, bin_size=0.005, t_stop=t_stop) == pytest.approx(
        np.sqrt(p ** 2 + (1 - p ** 2) / n), rel=0.05)
    assert st.population_fano_factor(trains, bin_size=0.005, t_stop=t_stop) == pytest.approx(
        1 + (n - 1) * p ** 2, rel=0.05)


def test_binned_statistics_of_a_result(result):
    """Poisson inputs of a real run: Fano ~ 1 and chi ~ 1/sqrt(20); the regular inputs, started together,
    fire in lockstep: chi 1."""
    assert st.population_fano_factor(result, "poisson", bin_size=10 * DT) == pytest.approx(1.0, abs=0.15)
    assert st.synchrony_chi(result, "poisson", bin_size=10 * DT) == pytest.approx(1 / np.sqrt(20), rel=0.25)
    assert st.synchrony_chi(result, "regular", bin_size=10 * DT) == pytest.approx(1.0)
    # a sub-window of the run, t_start and t_stop in seconds
    full = st.spike_counts(result, "poisson", bin_size=10 * DT)
    part = st.spike_counts(result, "poisson", bin_size=10 * DT, t_start=0.2, t_stop=0.5)
    np.testing.assert_array_equal(part, full[:, 200:500])


def test_binned_statistics_name_bad_arguments(result):
    trains = [[0.1, 0.2]]
    with pytest.raises(ValueError, match="'bin_size'"):
        st.synchrony_chi(trains, bin_size=0.0, t_stop=1.0)
    with pytest.raises(ValueError, match="'t_stop'"):
        st.population_fano_factor(trains, bin_size=0.1)
    with pytest.raises(ValueError, match="at least 2 bins"):
        st.spike_counts(trains, bin_size=0.6, t_stop=1.0)
    with pytest.raises(ValueError, match="at least 2 bins"):
        st.spike_counts(trains, bin_size=0.1, t_start=1.0, t_stop=0.5)
    with pytest.raises(ValueError, match="at least one spike train"):
        st.synchrony_chi([], bin_size=0.1, t_stop=1.0)
    with pytest.raises(ValueError, match="'population' applies to a SimulationResult"):
        st.synchrony_chi(trains, "out", bin_size=0.1, t_stop=1.0)
    with pytest.raises(ValueError, match="'population' must name"):
        st.synchrony_chi(result, bin_size=10 * DT)
    with pytest.raises(ValueError, match="whole number of steps"):
        st.synchrony_chi(result, "out", bin_size=2.5 * DT)
    with pytest.raises(ValueError, match="within the run"):
        st.spike_counts(result, "out", bin_size=10 * DT, t_stop=2.0)
    with pytest.raises(KeyError, match="no spikes recorded"):
        st.population_fano_factor(result, "nothing", bin_size=10 * DT)


# --- van Rossum ----------------------------------------------------------------

def vr_by_integration(a, b, tau, t_end):
    """(2/tau) * integral of the squared difference of the filtered trains, on a fine grid."""
    t = np.linspace(0, t_end, 400_001)

    def f(train):
        d = t[:, None] - np.asarray(train)[None, :]
        return np.where(d >= 0, np.exp(-np.maximum(d, 0) / tau), 0.0).sum(axis=1)

    return np.sqrt(2 / tau * np.trapezoid((f(a) - f(b)) ** 2, t))


@pytest.mark.parametrize("method", PATHS)
def test_van_rossum_against_its_definition(method):
    tau = 0.01
    assert st.van_rossum_distance([0.1], [], tau=tau, method=method) == pytest.approx(1.0)
    assert st.van_rossum_distance([0.1, 0.5], [], tau=tau, method=method) == pytest.approx(np.sqrt(2), rel=1e-9)
    for gap in (0.001, 0.01, 0.05):  # two single spikes: sqrt(2 - 2 exp(-gap/tau))
        d = st.van_rossum_distance([0.1], [0.1 + gap], tau=tau, method=method)
        assert d == pytest.approx(np.sqrt(2 - 2 * np.exp(-gap / tau)), rel=1e-9)
    a, b = [0.02, 0.05, 0.11], [0.03, 0.09]
    assert st.van_rossum_distance(a, b, tau=tau, method=method) == pytest.approx(
        vr_by_integration(a, b, tau, 0.4), rel=1e-4)


@pytest.mark.parametrize("method", PATHS)
def test_van_rossum_is_zero_on_itself_and_grows_with_jitter(method):
    rng = np.random.default_rng(2)
    train = np.sort(rng.uniform(0, 2, 60))
    assert st.van_rossum_distance(train, train.copy(), tau=5e-3, method=method) == 0.0
    assert np.all(st.van_rossum_distance([train] * 3, [train.copy()] * 3, tau=5e-3, method=method) == 0.0)
    means = []
    for jitter in (0.2e-3, 1e-3, 3e-3, 10e-3):
        jittered = [np.sort(train + rng.normal(0, jitter, train.size)) for _ in range(8)]
        means.append(st.van_rossum_distance([train] * 8, jittered, tau=5e-3, method=method).mean())
    assert all(x < y for x, y in zip(means, means[1:])), means
    assert means[-1] < np.sqrt(2 * train.size)  # bounded by deleting every spike and inserting it again


@pytest.mark.parametrize("method", PATHS)
def test_van_rossum_shapes(method):
    trains = random_trains(3, n=6)
    m = st.van_rossum_distance(trains, tau=0.02, method=method)
    assert m.shape == (6, 6)
    np.testing.assert_allclose(m, m.T)
    np.testing.assert_array_equal(np.diag(m), 0.0)
    pairs = st.van_rossum_distance(trains[:3], trains[3:], tau=0.02, method=method)
    assert pairs.shape == (3,)
    np.testing.assert_allclose(pairs, [m[0, 3], m[1, 4], m[2, 5]], rtol=1e-9)
    assert isinstance(st.van_rossum_distance(trains[0], trains[1], tau=0.02, method=method), float)


@pytest.mark.parametrize("tau", [1e-3, 2e-2, 0.5])
def test_van_rossum_paths_agree(result, tau):
    for trains in (random_trains(4, n=15) + [np.array([])], st.spike_trains(result, "out")):
        a = st.van_rossum_distance(trains, tau=tau, method="numpy")
        b = st.van_rossum_distance(trains, tau=tau, method="elephant")
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)
    x, y = st.spike_trains(result, "out")[:5], st.spike_trains(result, "out")[5:10]
    np.testing.assert_allclose(st.van_rossum_distance(x, y, tau=tau, method="numpy"),
                               st.van_rossum_distance(x, y, tau=tau, method="elephant"), rtol=1e-9, atol=1e-9)


def test_van_rossum_numpy_blocks_give_the_same_matrix(monkeypatch):
    trains = random_trains(5, n=10, max_spikes=40)
    full = st.van_rossum_distance(trains, tau=0.01, method="numpy")
    monkeypatch.setattr(st, "_BLOCK", 50)  # a few rows at a time, trains split across blocks
    np.testing.assert_allclose(st.van_rossum_distance(trains, tau=0.01, method="numpy"), full, rtol=1e-12,
                               atol=1e-12)
    np.testing.assert_allclose(st.van_rossum_distance(trains[:5], trains[5:], tau=0.01, method="numpy"),
                               [full[i, i + 5] for i in range(5)], rtol=1e-12)


# --- Victor-Purpura --------------------------------------------------------------

def vp_by_definition(a, b, q):
    """Least cost over every one-to-one matching of spikes of a with spikes of b:
    matched spikes are shifted (q |dt|), the others deleted or inserted (1 each)."""
    best = len(a) + len(b)
    for k in range(1, min(len(a), len(b)) + 1):
        for ia in itertools.combinations(range(len(a)), k):
            for ib in itertools.permutations(range(len(b)), k):
                cost = len(a) + len(b) - 2 * k + q * sum(abs(a[i] - b[j]) for i, j in zip(ia, ib))
                best = min(best, cost)
    return best


@pytest.mark.parametrize("method", PATHS)
def test_victor_purpura_small_examples_by_hand(method):
    vp = st.victor_purpura_distance
    assert vp([0.1], [0.15], q=10.0, method=method) == pytest.approx(0.5)  # shift 0.05 s at 10/s
    assert vp([0.1], [0.15], q=100.0, method=method) == pytest.approx(2.0)  # shift would cost 5: delete + insert
    assert vp([0.1, 0.5], [0.12], q=10.0, method=method) == pytest.approx(1.2)  # shift 0.2 + delete 1
    assert vp([0.1, 0.2], [0.2, 0.3], q=10.0, method=method) == pytest.approx(2.0)  # two shifts of 1 each
    assert vp([0.1, 0.2], [0.2, 0.3], q=15.0, method=method) == pytest.approx(2.0)  # keep 0.2, delete + insert
    assert vp([], [0.1, 0.2, 0.3], q=1.0, method=method) == 3.0
    assert vp([0.1, 0.7], [0.3, 0.9, 1.2], q=0.0, method=method) == 1.0  # q = 0: count difference
    trains = random_trains(6, n=5)
    np.testing.assert_array_equal(np.diag(vp(trains, q=20.0, method=method)), 0.0)


@pytest.mark.parametrize("method", PATHS)
def test_victor_purpura_matches_the_definition_on_random_trains(method):
    rng = np.random.default_rng(7)
    for _ in range(40):
        a = np.sort(rng.uniform(0, 0.5, rng.integers(0, 5)))
        b = np.sort(rng.uniform(0, 0.5, rng.integers(0, 5)))
        q = float(rng.choice([1.0, 8.0, 30.0, 200.0]))
        assert st.victor_purpura_distance(a, b, q=q, method=method) == pytest.approx(vp_by_definition(a, b, q))


@pytest.mark.parametrize("method", PATHS)
def test_victor_purpura_infinite_cost_keeps_only_coincident_spikes(method):
    a, b = [0.1, 0.2, 0.3], [0.2, 0.25]
    assert st.victor_purpura_distance(a, b, q=np.inf, method=method) == 3.0  # 5 spikes, one pair coincides
    assert st.victor_purpura_distance(a, a, q=np.inf, method=method) == 0.0
    m = st.victor_purpura_distance([a, b, []], q=np.inf, method=method)
    np.testing.assert_array_equal(m, [[0, 3, 3], [3, 0, 2], [3, 2, 0]])


@pytest.mark.parametrize("q", [0.0, 5.0, 100.0, 2000.0])
def test_victor_purpura_paths_agree(result, q):
    for trains in (random_trains(8, n=10) + [np.array([])], st.spike_trains(result, "out")[:10]):
        np.testing.assert_allclose(st.victor_purpura_distance(trains, q=q, method="numpy"),
                                   st.victor_purpura_distance(trains, q=q, method="elephant"), rtol=1e-9, atol=1e-9)
    x, y = st.spike_trains(result, "poisson")[:6], st.spike_trains(result, "poisson")[6:12]
    np.testing.assert_allclose(st.victor_purpura_distance(x, y, q=q, method="numpy"),
                               st.victor_purpura_distance(x, y, q=q, method="elephant"), rtol=1e-9, atol=1e-9)


# --- arguments and the optional dependency -----------------------------------------

def test_bad_arguments_name_the_parameter(result):
    with pytest.raises(ValueError, match="'method'"):
        st.isi_cv([[0.1, 0.2]], method="scipy")
    with pytest.raises(ValueError, match="'tau'"):
        st.van_rossum_distance([0.1], [0.2], tau=0.0)
    with pytest.raises(ValueError, match="'q'"):
        st.victor_purpura_distance([0.1], [0.2], q=-1.0)
    with pytest.raises(ValueError, match="as many trains"):
        st.van_rossum_distance([[0.1], [0.2]], [[0.1]], tau=0.01)
    with pytest.raises(ValueError, match="population"):
        st.isi_cv(result)
    with pytest.raises(KeyError, match="no spikes recorded"):
        st.firing_rates(result, "nothing")
    with pytest.raises(ValueError, match="1-D"):
        st.isi_cv([np.zeros((2, 2))])


def test_without_elephant_auto_falls_back_and_elephant_names_the_extra(monkeypatch):
    trains = random_trains(9, n=4)
    expected = st.van_rossum_distance(trains, tau=0.01, method="numpy")
    monkeypatch.setitem(sys.modules, "elephant.spike_train_dissimilarity", None)
    np.testing.assert_array_equal(st.van_rossum_distance(trains, tau=0.01), expected)
    with pytest.raises(ImportError, match=r'pip install "neuroai\[stats\]"'):
        st.isi_cv(trains, method="elephant")
