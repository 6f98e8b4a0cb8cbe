"""The spiking_sequences study, run quick (seed 0) with a small grammar as the language-model corpus."""
import csv
import json

import pytest

from neuroai import cli

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def study(tmp_path_factory, grammar_corpus):
    folder = grammar_corpus
    module = cli.load("spiking_sequences")
    record, metrics = cli.execute("spiking_sequences", module.run, quick=True, seed=0,
                                  out=tmp_path_factory.mktemp("runs"), data=str(folder), lm_epochs=3)
    return module, record.path, metrics


def test_files_written(study):
    module, path, m = study
    for f in ("config.json", "metrics.csv", "summary.md", "spiking_sequences.png"):
        assert (path / f).stat().st_size > 0, f
    config = json.loads((path / "config.json").read_text())
    assert config["parameters"]["quick"] is True and config["parameters"]["lm_epochs"] == 3
    with open(path / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    delays = module.QUICK["delays"]
    assert [(r["task"], r["model"]) for r in rows] == (
        [(f"copy memory, delay {d}", cell) for d in delays for cell in module.COPY_CELLS]
        + [("language model", cell) for cell in module.LM_CELLS])
    assert "| spiking_lstm |" in (path / "summary.md").read_text()


def test_every_spiking_model_beats_its_baseline(study):
    module, _, m = study
    for delay, results in m["copy"].items():
        for cell in ("spiking_rnn", "spiking_lstm"):
            assert results[cell]["recall accuracy"] > 1.6 * m["chance"], (delay, cell)
    # the grammar's words follow each other by rule; word frequencies alone (unigram) cannot see that
    for cell in ("spiking_rnn", "spiking_lstm"):
        assert m["lm"][cell]["test perplexity"] < 0.7 * m["unigram_test_ppl"], cell
    assert m["lm"]["lstm"]["test perplexity"] < 0.7 * m["unigram_test_ppl"]


def test_spike_rates_are_reported_for_the_spiking_models_only(study):
    module, _, m = study
    rows = [*(r for results in m["copy"].values() for r in results.values()), *m["lm"].values()]
    for r in rows:
        unit = "token" if r["task"] == "language model" else "step"
        rate = r[f"spikes/neuron/{unit}"]
        if r["model"] in ("spiking_rnn", "spiking_lstm"):
            assert 0 < rate < 1, (r["task"], r["model"], rate)
            hidden = module.QUICK["lm_hidden" if unit == "token" else "copy_hidden"]
            assert r[f"spikes/{unit}"] == pytest.approx(rate * hidden)
        else:
            assert rate == ""
    # RLeaky's spikes drive its recurrent synapses: each spike makes H accumulates
    for r in rows:
        if r["model"] == "spiking_rnn":
            unit = "token" if r["task"] == "language model" else "step"
            hidden = module.QUICK["lm_hidden" if unit == "token" else "copy_hidden"]
            assert r[f"ACs/{unit}"] == pytest.approx(r[f"spikes/{unit}"] * hidden)
