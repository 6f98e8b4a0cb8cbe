"""The flagship study end to end, shrunk: every learner must beat chance
(10 classes) by a wide margin, and the run must leave its table and figure."""
import pytest

from neuroai import cli
from neuroai.experiments import RunRecord
from neuroai.models import diehl_cook


@pytest.mark.slow
def test_every_learner_beats_chance_by_a_wide_margin(tmp_path, capsys):
    study = cli.load("compare_learning_rules")
    record = RunRecord("compare_learning_rules", tmp_path)
    rows = study.run(record, quick=True, seed=0, neurons=30, stdp_images=150, brian2_target="numpy",
                     sg_epochs=2, ann_epochs=10, brian2_images=4, conversion_steps=40)
    assert len(rows) == 4
    for learner, row in rows.items():
        assert row["test accuracy"] > 0.5, learner  # chance: 0.1
        assert row["labels used"] > 1000 and row["synaptic events per image"] > 0
    spiking = [name for name in rows if not name.startswith("ANN twin")]
    assert all(rows[name]["spikes per image"] > 0 for name in spiking)
    assert rows["ANN twin (ReLU)"]["spikes per image"] == 0
    # the conversion keeps close to its ANN on the same test images
    conversion = next(name for name in rows if name.startswith("ANN-to-SNN"))
    assert rows[conversion]["test accuracy"] > rows["ANN twin (ReLU)"]["test accuracy"] - 0.03
    assert (record.path / "compare_learning_rules.png").stat().st_size > 10_000
    assert "| STDP (Diehl & Cook) |" in (record.path / "summary.md").read_text()
    assert "surrogate-gradient SNN" in capsys.readouterr().out


def test_stdp_learning_rates_follow_the_exposure():
    """The small-data rule of ``small_data``: thresholds on the clock of the presentations per neuron
    (the paper: 180,000 presentations to 400 neurons, 450 each), the weights' memory at most a third of
    the training (the paper's: about 5,000 presentations)."""
    study = cli.load("compare_learning_rules")
    paper = diehl_cook.DiehlCook()
    assert study.small_data(180_000, 400) == dict(theta_plus=paper.theta_plus, tau_theta=paper.tau_theta,
                                                  a_plus=paper.a_plus, a_minus=paper.a_minus)
    assert study.small_data(600_000, 400) == study.small_data(180_000, 400)  # more exposure: the paper's
    # MNIST-5k, 400 neurons, 3 passes over 3,500 images: 26.25 presentations per neuron, 1/17 of the paper's
    config = study.stdp_config(study.Params(dataset="mnist5k", neurons=400), 3 * 3500, seed=0)
    assert config.theta_plus == pytest.approx(0.05e-3 * 450 / 26.25)  # 0.86 mV per spike
    assert config.tau_theta == pytest.approx(1e4 * 26.25 / 450)  # 583 s
    assert config.theta_plus * config.tau_theta == pytest.approx(paper.theta_plus * paper.tau_theta)
    assert config.a_plus == pytest.approx(0.01 * 15_000 / 10_500)  # a memory of 3,500 presentations
    assert config.a_minus / config.a_plus == pytest.approx(paper.a_minus / paper.a_plus)
    assert config.max_rate == paper.max_rate and config.n_neurons == 400
    # half the neurons: twice the exposure per neuron, the same memory
    half = study.small_data(10_500, 200)
    assert half["theta_plus"] == pytest.approx(config.theta_plus / 2) and half["a_plus"] == config.a_plus
    # the digits keep their own settings, whatever the exposure
    digits = study.stdp_config(study.Params(dataset="digits"), 600, seed=0)
    assert {k: getattr(digits, k) for k in study.DIGITS_STDP} == study.DIGITS_STDP
    assert digits.tau_theta == paper.tau_theta


def test_the_stdp_defaults_on_mnist5k():
    study = cli.load("compare_learning_rules")
    assert study.stdp_defaults("mnist5k", {"neurons": 400}) == dict(stdp_epochs=5, stdp_backend="torch",
                                                                    stdp_batch=25)
    assert study.stdp_defaults("mnist5k", {}) == dict(stdp_epochs=5, stdp_backend="torch", stdp_batch=6)
    # what is given stays; on Brian2 there is no batch
    assert study.stdp_defaults("mnist5k", {"stdp_backend": "brian2", "stdp_epochs": 1}) == {}
    assert study.stdp_defaults("mnist5k", {"neurons": 400, "stdp_batch": 8}) == dict(stdp_epochs=5,
                                                                                      stdp_backend="torch")
    assert study.stdp_defaults("digits", {"neurons": 400}) == {}


@pytest.mark.parametrize("name", ["neurons", "epochs", "stdp_images", "stdp_batch"])
def test_a_count_below_one_is_refused_before_the_run(tmp_path, name):
    study = cli.load("compare_learning_rules")
    with pytest.raises(ValueError, match=f"parameter '{name}' must be >= 1, got 0"):
        study.run(RunRecord("compare_learning_rules", tmp_path), **{name: 0})
    assert not any(tmp_path.rglob("config.json"))
