"""Word-level RNN language model: a 2x200 LSTM trained by truncated BPTT on English text, perplexity and samples.

The model and training are :mod:`neuroai.models.rnnlm` with the defaults of
PyTorch's word-language-model example (embedding 200, two LSTM layers of
200, dropout 0.2, BPTT 35, batch 20, SGD at learning rate 20 with the
gradient norm clipped to 0.25, the rate divided by 4 whenever validation
perplexity stalls; the best model on validation is kept). Data: the
embedded corpus (English prose shipped with Python itself,
:func:`neuroai.data.python_docs_corpus`) or, with ``--data DIR``, any corpus
in PTB/WikiText format (``train.txt``, ``valid.txt``, ``test.txt``).
``--cell gru|rnn`` swaps the recurrent layers, ``--tie`` ties the decoder to
the embedding, ``--checkpoint FILE`` saves every epoch and resumes.

For scale: on PTB this configuration reaches about 115-120 test perplexity
(Zaremba et al. 2014, small model: 114.5); the embedded corpus is about a
quarter of PTB's size, with a smaller vocabulary. A uniform guess has the
vocabulary size as perplexity; a unigram model is the first baseline above
it, and is reported beside the LSTM.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from matplotlib.figure import Figure

from neuroai.cli import count, script_main
from neuroai.data import load_corpus, python_docs_corpus
from neuroai.experiments import RunRecord, markdown_table
from neuroai.models.rnnlm import LMTraining, RNNLanguageModel, fit_language_model, generate, unigram_perplexity


@dataclass(frozen=True)
class Params:
    embedding: int = 200
    hidden: int = 200
    layers: int = 2
    cell: str = "lstm"
    dropout: float = 0.2
    tie: bool = False
    epochs: int = 6
    max_windows: int | None = None     # training windows per epoch (None: all)
    prompt: str = "the function returns"
    sample_length: int = 30
    temperature: float = 0.8
    top_k: int = 40


QUICK = dict(embedding=100, hidden=100, epochs=2)


def add_arguments(parser) -> None:
    parser.add_argument("--data", default=None, metavar="DIR", help="a PTB/WikiText-format corpus folder "
                        "(default: the embedded corpus)")
    parser.add_argument("--cell", choices=("lstm", "gru", "rnn"), default=None)
    parser.add_argument("--epochs", type=count, default=None)
    parser.add_argument("--tie", action="store_true", default=None, help="tie decoder and embedding weights")
    parser.add_argument("--checkpoint", default=None, metavar="FILE", help="save every epoch; resume from FILE")


def figure(history: list[dict]) -> Figure:
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.subplots()
    epochs = [h["epoch"] for h in history]
    ax.plot(epochs, [h["train_ppl"] for h in history], marker="o", label="training (dropout on)")
    ax.plot(epochs, [h["valid_ppl"] for h in history], marker="o", label="validation")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("perplexity")
    ax.legend(frameon=False)
    return fig


def run(record: RunRecord, *, quick: bool = False, seed: int = 0, data: str | None = None, cell: str | None = None,
        epochs: int | None = None, tie: bool | None = None, checkpoint: str | None = None) -> dict:
    """Train the model; returns validation and test perplexities, the baselines and a sample."""
    overrides = {k: v for k, v in dict(cell=cell, epochs=epochs, tie=tie).items() if v is not None}
    p = dataclasses.replace(Params(), **{**(QUICK if quick else {}), **overrides})
    corpus = python_docs_corpus() if data is None else load_corpus(data)
    print(corpus)
    model = RNNLanguageModel(len(corpus.vocab), p.embedding, p.hidden, p.layers, p.cell, p.dropout,
                             tie_weights=p.tie, seed=seed)
    config = LMTraining(epochs=p.epochs, max_windows=p.max_windows)
    record.write_config({**dataclasses.asdict(p), **dataclasses.asdict(config), "quick": quick,
                         "corpus": corpus.source, "vocabulary": len(corpus.vocab)}, seed)
    result = fit_language_model(model, corpus, config, seed=seed, checkpoint=checkpoint)
    sample = " ".join(generate(model, corpus.vocab, p.prompt.split(), p.sample_length, temperature=p.temperature,
                               top_k=p.top_k, seed=seed))
    rows = [{"model": "uniform", "valid perplexity": len(corpus.vocab), "test perplexity": len(corpus.vocab)},
            {"model": "unigram", "valid perplexity": unigram_perplexity(corpus.train, corpus.valid, len(corpus.vocab)),
             "test perplexity": unigram_perplexity(corpus.train, corpus.test, len(corpus.vocab))},
            {"model": f"{p.layers}x{p.hidden} {p.cell.upper()}", "valid perplexity": result["valid_ppl"],
             "test perplexity": result["test_ppl"]}]
    print(markdown_table(result["history"]))
    print(markdown_table(rows))
    print(f"\nsample ({p.prompt!r}, temperature {p.temperature}, top-{p.top_k}): {p.prompt} {sample}")
    record.write_metrics(result["history"])
    record.save_figure(figure(result["history"]), "rnnlm")
    record.write_summary(
        "Word-level RNN language model", rows,
        f"{corpus!r}. Model: embedding {p.embedding}, {p.layers} {p.cell.upper()} layers of {p.hidden}, dropout "
        f"{p.dropout}, tied weights {p.tie}; SGD lr {config.lr}, clip {config.clip}, BPTT {config.bptt}, batch "
        f"{config.batch_size}, {p.epochs} epochs; seed {seed}.\n\n" + markdown_table(result["history"])
        + f"\n\nSample: *{p.prompt} {sample}*\n\n![rnnlm](rnnlm.png)")
    return {"valid_ppl": result["valid_ppl"], "test_ppl": result["test_ppl"], "vocabulary": len(corpus.vocab),
            "unigram_test_ppl": rows[1]["test perplexity"], "sample": sample, "history": result["history"]}


if __name__ == "__main__":
    raise SystemExit(script_main(run))
