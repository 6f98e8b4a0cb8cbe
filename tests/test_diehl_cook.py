"""The Diehl & Cook STDP learner: the same learning on both backends, the
readout, and the test-time re-presentation of silent images."""
import dataclasses
import json

import numpy as np
import pytest

from neuroai import Simulator
from neuroai.data import load_digits
from neuroai.models import diehl_cook as dc


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits()
    return x.reshape(len(x), -1), y


SMALL = dc.DiehlCook(n_neurons=12, t_on=0.1, t_off=0.05, max_rate=300.0, a_plus=0.05, a_minus=5e-4,
                     theta_plus=0.5e-3)


def test_learning_is_identical_on_brian2_and_torch(digits):
    x, _ = digits
    runs = {"brian2": dc.train(SMALL, x[:8], backend="brian2", chunk=4),
            "torch": dc.train(SMALL, x[:8], backend="torch", chunk=4, dtype="float64")}
    b, t = runs["brian2"], runs["torch"]
    assert b.counts.sum() > 10  # the neurons answered, so STDP and thresholds moved
    np.testing.assert_array_equal(b.counts, t.counts)
    np.testing.assert_array_equal(b.weights, t.weights)
    np.testing.assert_array_equal(b.theta, t.theta)
    assert np.ptp(b.weights) > 0 and b.theta.max() > 0
    # and evaluation agrees too, independent trials on each backend
    r = {backend: dc.responses(b, x[8:14], backend=backend, seed=1, **opts)
         for backend, opts in (("brian2", {}), ("torch", {"dtype": "float64"}))}
    for source in ("input", "exc", "inh"):
        np.testing.assert_array_equal(r["brian2"][source], r["torch"][source])


def test_silent_images_are_presented_again_at_higher_rates(digits):
    x, _ = digits
    trained = dc.train(SMALL, x[:4], backend="torch", chunk=4)
    images = x[20:26]
    once = dc.responses(trained, images, backend="torch", seed=3, boosts=0)
    assert once["exc"].sum(1).min() < 10 ** 6
    # nothing is re-presented when every image passes the bar
    np.testing.assert_array_equal(dc.responses(trained, images, backend="torch", seed=3, min_spikes=0)["exc"],
                                  once["exc"])
    # an unreachable bar: every image ends on its last presentation, at twice the base rate, seed 3 + 2
    boosted = dc.responses(trained, images, backend="torch", seed=3, min_spikes=10 ** 6, boosts=2)
    direct = Simulator(trained.network(rate_factor=2.0), "torch", seed=5).present(
        {"input": images}, SMALL.t_on, independent=True)
    np.testing.assert_array_equal(boosted["exc"], direct.window_counts("exc"))
    assert boosted["input"].sum() > 1.5 * once["input"].sum()


def test_label_neurons_reads_the_last_training_responses(digits):
    x, y = digits
    trained = dataclasses.replace(dc.train(SMALL, x[:2], backend="torch"),
                                  counts=np.array([[3, 0, 0], [0, 2, 0], [0, 5, 1], [4, 0, 0]]))
    readout = dc.label_neurons(trained, [9, 9, 1, 2], last=2)
    assert readout.labels_.tolist() == [2, 1, 1]


def test_bad_configuration_and_images_are_reported():
    with pytest.raises(ValueError, match="w_init .* must be <= w_max"):
        dc.DiehlCook(w_init=2.0)
    with pytest.raises(ValueError, match="n_neurons"):
        dc.DiehlCook(n_neurons=1)
    with pytest.raises(ValueError, match=r"'images' must lie in \[0, 1\]"):
        dc.train(SMALL, np.full((2, 64), 2.0))
    with pytest.raises(ValueError, match=r"'images' must have shape \(n_images, n_inputs\)"):
        dc.train(SMALL, np.ones(64))


def test_batched_learning_shares_thresholds_and_weights(digits):
    x, _ = digits
    trained = dc.train(SMALL, x[:6], backend="torch", batch_size=3, chunk=6)
    assert trained.counts.shape == (6, SMALL.n_neurons) and trained.counts.sum() > 5
    # one threshold per neuron, raised by every copy's spikes (tau_theta = 1e4 s: 6 presentations decay
    # it by 1e-4), those counted in the presentations and any in the rests after them
    jumps = trained.theta / SMALL.theta_plus
    np.testing.assert_allclose(jumps, np.round(jumps), rtol=1e-4, atol=1e-3)
    assert np.all(np.round(jumps) >= trained.counts.sum(0)) and jumps.sum() <= trained.counts.sum() + 3
    np.testing.assert_allclose(trained.weights.sum(0), SMALL.total_per_input * 64 * dc.NS, rtol=1e-6)
    with pytest.raises(ValueError, match="batch_size > 1 needs backend='torch'"):
        dc.train(SMALL, x[:6], backend="brian2", batch_size=3)
    with pytest.raises(ValueError, match=r"batch_size \(13\) must be <= n_neurons \(12\)"):
        dc.train(SMALL, x[:6], backend="torch", batch_size=13)


@pytest.mark.parametrize("batch_size", [1, 4])
def test_thresholds_decay_per_presentation_whatever_the_batch(tmp_path, batch_size):
    # start from raised thresholds (a checkpoint after 0 images) and present black images: nothing fires,
    # so the thresholds only decay, for 8 presentations of t_on + t_off each, batched or not
    config = dataclasses.replace(SMALL, tau_theta=2.0)
    n = config.n_neurons
    theta = np.linspace(1e-3, 5e-3, n)
    path = tmp_path / "start.npz"
    np.savez(path, done=0, counts=np.zeros((0, n), dtype=np.int64), weights=np.full((64, n), 0.1 * dc.NS),
             theta=theta, rng_state=json.dumps(np.random.default_rng(0).bit_generator.state))
    trained = dc.train(config, np.zeros((8, 64)), backend="torch", batch_size=batch_size, chunk=8,
                       checkpoint=path, dtype="float64")
    assert trained.counts.sum() == 0
    decay = np.exp(-8 * (config.t_on + config.t_off) / config.tau_theta)  # 0.55
    np.testing.assert_allclose(trained.theta, theta * decay, rtol=1e-9)


def test_the_images_of_a_batch_compete_for_neurons(digits):
    x, _ = digits
    trained = dc.train(SMALL, x[:24], backend="torch", batch_size=4, chunk=24)
    fired = trained.counts.reshape(6, 4, SMALL.n_neurons) > 0  # (batches, images, neurons)
    assert fired.sum() > 12
    assert fired.sum(1).max() == 1  # each neuron answered one image of its batch
    assert fired.any(2).sum(1).min() >= 2  # and the images of a batch found different winners


@pytest.mark.parametrize("batch_size", [1, 2])
def test_an_interrupted_training_resumes_from_its_checkpoint(digits, tmp_path, batch_size):
    x, _ = digits
    path = tmp_path / "stdp.npz"
    config = dataclasses.replace(SMALL, t_off=0.5)  # a long rest: the circuit relaxes fully between images
    kw = dict(backend="torch", chunk=2, batch_size=batch_size, seed=4, dtype="float64")
    whole = dc.train(config, x[:6], **kw)

    def interrupt(done, counts):
        if done == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        dc.train(config, x[:6], checkpoint=path, progress=interrupt, **kw)
    assert [p.name for p in tmp_path.iterdir()] == ["stdp.npz"]  # written atomically: no temporary left
    seen = []
    resumed = dc.train(config, x[:6], checkpoint=path, progress=lambda done, counts: seen.append(done), **kw)
    assert seen == [6]  # only the last chunk ran again
    # from the restored weights, thresholds and input generator, the last chunk goes as it did uninterrupted
    assert whole.counts[4:].sum() > 0
    np.testing.assert_array_equal(resumed.counts, whole.counts)
    np.testing.assert_allclose(resumed.weights, whole.weights, rtol=1e-9)
    np.testing.assert_allclose(resumed.theta, whole.theta, rtol=1e-9)
    with pytest.raises(ValueError, match="delete the file to start afresh"):
        dc.train(dataclasses.replace(config, n_neurons=5), x[:6], checkpoint=path, **kw)
