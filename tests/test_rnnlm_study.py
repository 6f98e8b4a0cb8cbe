"""The rnnlm study, run quick on a small PTB-format corpus (the embedded corpus is tested in test_text)."""
import csv

import pytest

from neuroai import cli
from neuroai.data.text import write_corpus

pytestmark = pytest.mark.usefixtures("one_thread")


def grammar_lines(n, seed):
    import random
    rng = random.Random(seed)
    subjects, verbs, objects = ["the cat", "a dog", "the bird"], ["sees", "likes", "finds"], ["the fish", "a tree"]
    return [f"{rng.choice(subjects)} {rng.choice(verbs)} {rng.choice(objects)}" for _ in range(n)]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    folder = write_corpus({"train": grammar_lines(3000, 0), "valid": grammar_lines(300, 1),
                           "test": grammar_lines(300, 2)}, tmp_path_factory.mktemp("toy"))
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
