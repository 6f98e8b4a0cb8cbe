"""The gradients_through_time study, run quick (seed 0): files written, gradients vanish or explode as theory says."""
import csv
import json

import numpy as np
import pytest

from neuroai import cli

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    module = cli.load("gradients_through_time")
    record, metrics = cli.execute("gradients_through_time", module.run, quick=True, seed=0,
                                  out=tmp_path_factory.mktemp("runs"))
    return module, record.path, metrics


def test_files_written(study):
    module, path, m = study
    for f in ("config.json", "metrics.csv", "summary.md", "gradients_through_time.png"):
        assert (path / f).stat().st_size > 0, f
    config = json.loads((path / "config.json").read_text())
    assert config["seed"] == 0 and config["parameters"]["quick"] is True
    assert config["parameters"]["delays"] == list(module.QUICK["delays"]) == m["delays"]
    with open(path / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert {r["kind"] for r in rows} == {"profile", "sweep", "loss", "grad_norm", "accuracy"}
    profile_length = config["parameters"]["profile_length"]
    assert sum(r["kind"] == "profile" for r in rows) == len(m["profiles"]) * profile_length
    assert sum(r["kind"] == "grad_norm" for r in rows) == len(module.VARIANTS) * m["steps"]
    summary = (path / "summary.md").read_text()
    assert "## 2. Copy task" in summary and "## 3. tanh RNN" in summary


def test_decay_factor_recovers_a_geometric_profile():
    module = cli.load("gradients_through_time")
    t = np.arange(50)
    norms = 3.0 * 0.8 ** (49 - t)
    norms[-1] = 100.0                     # the last step is left out of the fit
    assert module.decay_factor(norms) == pytest.approx(0.8)
    norms[:5] = 0.0                       # underflowed steps are left out too
    assert module.decay_factor(norms) == pytest.approx(0.8)


def test_tanh_rnn_gradients_vanish_where_the_lstm_keeps_them(study):
    _, _, m = study
    rnn, lstm, orth = m["profiles"]["rnn"], m["profiles"]["lstm"], m["profiles"]["rnn orthogonal"]
    assert rnn["decay_per_step"] < 0.7 and rnn["spectral_radius"] < 0.7     # torch's init: radius ~ 1/sqrt(3)
    assert rnn["ratio"] < 1e-6 * lstm["ratio"]                                # orders of magnitude apart
    # orthogonal weights: only tanh' < 1 shrinks the gradient, much more slowly than the default init
    assert orth["spectral_radius"] == pytest.approx(1.0, abs=1e-6)
    assert rnn["decay_per_step"] < orth["decay_per_step"] < 1
    assert orth["ratio"] > 1e6 * rnn["ratio"]


def test_scaled_up_recurrent_weights_explode(study):
    module, _, m = study
    scaled = m["profiles"]["rnn scaled"]
    assert scaled["spectral_radius"] == pytest.approx(module.Params().explode_gain, rel=1e-6)
    assert scaled["decay_per_step"] > 1 and scaled["ratio"] > 1e3           # grows backwards in time


def test_the_membrane_leak_sets_the_spiking_decay(study):
    _, _, m = study
    leaky, default = m["profiles"]["spiking_rnn leaky"], m["profiles"]["spiking_rnn"]
    assert leaky["decay_per_step"] < default["decay_per_step"]
    assert leaky["ratio"] < 1e-3 * default["ratio"]
    # the spiking LSTM carries gradients back at all (snnTorch's SLSTM.forward zeroes its state every step
    # when input_size != hidden_size), but without a forget bias they decay faster than the LSTM's
    spiking_lstm = m["profiles"]["spiking_lstm"]
    assert spiking_lstm["ratio"] > 0 and spiking_lstm["decay_per_step"] < m["profiles"]["lstm"]["decay_per_step"]


def test_gated_cells_learn_the_longest_delay_where_the_rnn_cannot(study):
    _, _, m = study
    acc, chance = m["accuracy"], m["chance"]
    short, longest = min(m["delays"]), max(m["delays"])
    assert acc["rnn"][short] > 0.8                          # the RNN can learn the task at a short delay...
    assert acc["rnn"][longest] < chance + 0.05              # ...but not at the longest one
    assert acc["lstm"][longest] > acc["rnn"][longest] + 0.1
    assert acc["gru"][longest] > acc["rnn"][longest] + 0.3
    rows = {r["cell"]: r for r in m["sweep"] if r["delay"] == longest}
    # after training, the gated cells carry the gradient across the delay; the RNN's still vanishes
    assert rows["rnn"]["ratio trained"] < 1e-3
    for cell in ("lstm", "gru"):
        assert rows[cell]["ratio trained"] > 0.1, cell
        assert rows[cell]["loss / baseline"] < 1, cell
    assert rows["gru"]["ratio trained"] > 1e3 * rows["gru"]["ratio at init"]     # its update gates opened


def test_clipping_and_orthogonal_variants(study):
    module, path, m = study
    variants = m["variants"]
    assert list(variants) == list(module.VARIANTS)
    with open(path / "metrics.csv") as f:
        rows = [r for r in csv.DictReader(f) if r["kind"] in ("grad_norm", "accuracy")]
    clip = module.Params().clip
    for name, v in variants.items():
        norms = np.array([float(r["value"]) for r in rows if r["model"] == name and r["kind"] == "grad_norm"])
        assert v["steps above threshold"] == pytest.approx(np.mean(norms > clip))
        assert v["max grad norm"] == pytest.approx(norms.max())
        curve = [float(r["value"]) for r in rows if r["model"] == name and r["kind"] == "accuracy"]
        assert v["recall accuracy"] == pytest.approx(curve[-1]) and v["best accuracy"] == pytest.approx(max(curve))
        assert v["max grad norm"] > clip                    # explosions beyond the threshold happen in every run
    assert variants["default"]["clipping"] == "none" and variants["+both"]["clipping"] == clip


def test_clipping_acts_exactly_from_the_first_step_above_the_threshold(study):
    module, path, _ = study
    clip = module.Params().clip
    with open(path / "metrics.csv") as f:
        rows = [r for r in csv.DictReader(f) if r["kind"] == "grad_norm"]
    norms = {name: np.array([float(r["value"]) for r in rows if r["model"] == name]) for name in module.VARIANTS}
    for free, clipped in (("default", "+clipping"), ("+orthogonal", "+both")):
        # same initialization and batches: identical until the first gradient above the threshold is clipped
        first = int(np.argmax(norms[free] > clip))
        assert norms[free][first] > clip, free
        np.testing.assert_array_equal(norms[free][:first + 1], norms[clipped][:first + 1])
        assert norms[free][first + 1] != norms[clipped][first + 1], free
