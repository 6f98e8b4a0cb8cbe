"""The rnnlm study, run quick on a small PTB-format corpus (the embedded corpus is tested in test_text)."""
import csv

import pytest

from neuroai import cli

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def study(tmp_path_factory, grammar_corpus):
    folder = grammar_corpus
    module = cli.load("rnnlm")
    record, metrics = cli.execute("rnnlm", module.run, quick=True, seed=0, out=tmp_path_factory.mktemp("runs"),
                                  data=str(folder), epochs=3)
    return record.path, metrics


def test_files_and_history(study):
    path, m = study
    for f in ("config.json", "metrics.csv", "summary.md", "rnnlm.png"):
        assert (path / f).stat().st_size > 0, f
    with open(path / "metrics.csv") as f:
        assert [int(r["epoch"]) for r in csv.DictReader(f)] == [1, 2, 3]
    assert "Sample:" in (path / "summary.md").read_text()


def test_the_lstm_learns_the_grammar(study):
    _, m = study
    # 10 words + <eos>; 3 x 3 x 2 = 18 equally likely sentences of 5 words + <eos>: the
    # entropy per token is log(18) / 6, a perplexity of 1.62; the unigram model cannot see word order
    assert m["test_ppl"] < 0.6 * m["unigram_test_ppl"]
    assert len(m["sample"].split()) == 30
