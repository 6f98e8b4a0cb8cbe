"""Spiking vs ANN recurrent networks on sequences: copy memory and a word-level language model, with spikes per step.

Five recurrent cores of one layer, :func:`neuroai.models.recurrent.make_recurrent`:
``lstm``, ``gru``, ``rnn`` (tanh) from ``torch.nn`` and the two spiking cores of
snnTorch, ``spiking_rnn`` (``RLeaky``: leaky integrate-and-fire neurons with
all-to-all recurrent weights on their spikes) and ``spiking_lstm`` (``SLSTM``:
an LSTM cell whose hidden state is thresholded into spikes), trained by
surrogate gradients through time.

(a) **Copy memory** (:func:`neuroai.data.sequences.copy_memory`; Hochreiter &
Schmidhuber 1997): ``length`` symbols out of ``symbols``, ``delay`` blanks, a
delimiter, then the symbols must be recalled. A linear read-out per step
(:class:`~neuroai.models.recurrent.SequenceModel`, ``many_to_many``), Adam on
fresh seeded batches, the gradient norm clipped; the score is the recall
accuracy on ``eval_sequences`` held-out sequences (chance: ``1 / symbols``).

(b) **Word-level language model** on the embedded English corpus
(:func:`neuroai.data.python_docs_corpus`; ``--data DIR`` for any
PTB/WikiText-format corpus): :class:`~neuroai.models.RNNLanguageModel`
(embedding, one recurrent layer, dropout, linear decoder) trained by
truncated BPTT with Adam (:func:`~neuroai.models.fit_language_model`; the
best epoch on validation is kept); the score is the test perplexity, next
to the unigram model's (word frequencies of the training text, add-one
smoothed), the first baseline a model that uses context must beat. Word
vectors start N(0, 1) for every core: a spiking core needs them that large
to reach threshold, and the LSTM trains better with them too than with the
+-0.1 of PyTorch's word-language-model example (which pairs it with SGD at
learning rate 20).

Spiking settings (the library's defaults, chosen by small experiments): a
membrane decay ``beta`` of 0.2 per step (one step is one token or symbol: the
membrane then mostly reflects the current input and memory lives in the
recurrent spikes; with snnTorch's customary 0.9, which integrates over ~10
inputs, the language model below reached a test perplexity of 585 instead of
about 280), SLSTM's threshold 0.1 (its membrane, the LSTM's hidden state,
lies in (-1, 1): at snnTorch's threshold 1 it never fires, and the model
stays at 3,100), and for copy memory the ``trace`` read-out (the last
layer's spikes low-pass filtered by a non-spiking leaky integrator; the
spiking RNN recalled about 0.55 at delay 20 with it, 0.35 from the bare
spikes; the spiking LSTM about the same either way). Every path from input
to output passes through spikes. One seed: the spiking cores' recall varies
by about 0.1 from seed to seed.

Costs, per step (copy memory) or token (language model), measured on the
test data: spikes per neuron (the firing probability per step), spikes of
the whole layer, and the operations of the core (read-out excluded):
dense multiply-accumulates (MACs: ``4 H (in + H)`` for an LSTM, ``3 H (in + H)``
for a GRU, ``H (in + H)`` for a tanh RNN, the input projection ``H in`` of
RLeaky, and the whole ``4 H (in + H)`` of SLSTM, whose recurrence runs on its
continuous hidden state) and spike-driven accumulates (ACs: each RLeaky
spike reaches ``H`` recurrent synapses), the currency of neuromorphic
energy estimates (an AC costs roughly a fifth of a MAC in 45 nm CMOS;
Horowitz 2014).
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from neuroai.cli import count, script_main
from neuroai.data import load_corpus, python_docs_corpus
from neuroai.data.sequences import copy_memory
from neuroai.data.text import Corpus, batchify, bptt_windows
from neuroai.experiments import RunRecord, markdown_table
from neuroai.models import LMTraining, RNNLanguageModel, fit_language_model
from neuroai.models.rnnlm import unigram_perplexity
from neuroai.models.recurrent import SPIKING_CELLS, SequenceModel

COPY_CELLS = ("lstm", "gru", "rnn", "spiking_rnn", "spiking_lstm")
LM_CELLS = ("lstm", "spiking_rnn", "spiking_lstm")


@dataclass(frozen=True)
class Params:
    # (a) copy memory
    delays: tuple[int, ...] = (10, 20, 40)
    length: int = 3                   # symbols to recall
    symbols: int = 4                  # chance recall accuracy 1 / symbols
    copy_hidden: int = 64
    copy_iterations: int = 600        # Adam steps, each on a fresh batch
    copy_batch: int = 64
    copy_lr: float = 1e-2
    eval_sequences: int = 1000
    # (b) language model
    lm_hidden: int = 200              # embedding and hidden width
    lm_dropout: float = 0.2
    embedding_std: float = 1.0        # word vectors start N(0, 1) for every core (see the module docstring)
    lm_epochs: int = 1
    lm_lr: float = 3e-3
    lm_batch: int = 20
    lm_bptt: int = 35
    lm_max_windows: int | None = None  # training windows per epoch (None: the whole training text)
    lm_tokens: int | None = None       # keep the first tokens of each split (None: all)
    clip: float = 1.0                  # gradient-norm bound of both tasks
    # spiking cores (see the module docstring)
    beta: float = 0.2
    slstm_threshold: float = 0.1


QUICK = dict(delays=(5,), copy_hidden=32, copy_iterations=150, eval_sequences=500, lm_hidden=64,
             lm_max_windows=15, lm_tokens=20_000)


def add_arguments(parser) -> None:
    parser.add_argument("--data", default=None, metavar="DIR", help="a PTB/WikiText-format corpus folder for the "
                        "language model (default: the embedded corpus)")
    parser.add_argument("--lm-epochs", dest="lm_epochs", type=count, default=None)


def spiking_options(cell: str, p: Params, readout: str = "spikes") -> dict | None:
    """Keyword arguments of a spiking core (None for an ANN cell)."""
    if cell == "spiking_rnn":
        return {"beta": p.beta, "readout": readout}
    if cell == "spiking_lstm":
        return {"threshold": p.slstm_threshold, "readout": readout}
    return None


def core_operations(cell: str, inputs: int, hidden: int, spikes_per_neuron: float) -> tuple[float, float]:
    """``(MACs, ACs)`` of a one-layer core per step (see the module docstring)."""
    gates = {"lstm": 4, "gru": 3, "rnn": 1, "spiking_lstm": 4}
    if cell == "spiking_rnn":
        return float(hidden * inputs), spikes_per_neuron * hidden * hidden
    return float(gates[cell] * hidden * (inputs + hidden)), 0.0


def cost_columns(cell: str, inputs: int, hidden: int, rate: float | None, unit: str) -> dict:
    """The cost columns of one row of the table (``rate``: spikes per neuron and step, None for an ANN)."""
    macs, acs = core_operations(cell, inputs, hidden, rate or 0.0)
    return {f"spikes/neuron/{unit}": rate if rate is not None else "",
            f"spikes/{unit}": rate * hidden if rate is not None else "",
            f"MACs/{unit}": macs, f"ACs/{unit}": acs}


def train_copy(cell: str, delay: int, p: Params, seed: int) -> dict:
    """Train one core on copy memory at ``delay``; returns its accuracy, spike rate and time."""
    channels = p.symbols + 2
    model = SequenceModel(channels, p.copy_hidden, p.symbols + 1, cell=cell, mode="many_to_many",
                          spiking_options=spiking_options(cell, p, readout="trace"), seed=seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=p.copy_lr)
    start = time.perf_counter()
    for step in range(p.copy_iterations):
        x, y = copy_memory(p.copy_batch, delay, p.length, p.symbols, seed=seed * 1_000_003 + step)
        loss = nn.functional.cross_entropy(model(x).flatten(0, 1), y.flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), p.clip)
        optimizer.step()
    seconds = time.perf_counter() - start
    x, y = copy_memory(p.eval_sequences, delay, p.length, p.symbols, seed=seed * 1_000_003 + 999_999)
    model.eval()
    with torch.no_grad():
        recalled = model(x)[-p.length:].argmax(-1) == y[-p.length:]
    rate = model.core.last_spike_rate if cell in SPIKING_CELLS else None
    return {"accuracy": float(recalled.float().mean()), "rate": rate, "seconds": seconds}


@torch.no_grad()
def spikes_per_token(model: RNNLanguageModel, data: torch.Tensor, bptt: int) -> float:
    """Mean spikes per neuron and token of a spiking model's core over ``data`` (T, B), state carried."""
    model.eval()
    total, count, state = 0.0, 0, None
    for inputs, _ in bptt_windows(data, bptt):
        _, state = model(inputs, state)
        total += model.rnn.last_spike_rate * inputs.numel()
        count += inputs.numel()
    return total / count


def truncated(corpus: Corpus, tokens: int | None) -> Corpus:
    """``corpus`` with the first ``tokens`` tokens of each split (all if None)."""
    if tokens is None:
        return corpus
    return dataclasses.replace(corpus, train=corpus.train[:tokens], valid=corpus.valid[:tokens // 4],
                               test=corpus.test[:tokens // 4])


def train_lm(cell: str, corpus: Corpus, p: Params, seed: int) -> dict:
    """Train one language model; returns its perplexities, history, spike rate and time."""
    model = RNNLanguageModel(len(corpus.vocab), p.lm_hidden, p.lm_hidden, 1, cell, p.lm_dropout,
                             embedding_std=p.embedding_std, spiking_options=spiking_options(cell, p), seed=seed)
    config = LMTraining(batch_size=p.lm_batch, bptt=p.lm_bptt, optimizer="adam", lr=p.lm_lr, clip=p.clip,
                        epochs=p.lm_epochs, max_windows=p.lm_max_windows)
    start = time.perf_counter()
    result = fit_language_model(model, corpus, config, seed=seed, progress=False)
    seconds = time.perf_counter() - start
    rate = (spikes_per_token(model, batchify(corpus.test, config.eval_batch_size), p.lm_bptt)
            if cell in SPIKING_CELLS else None)
    return {**result, "rate": rate, "seconds": seconds}


def figure(copy_rows: list[dict], lm_rows: list[dict], p: Params, unigram: float) -> Figure:
    """Recall accuracy per delay and core (chance dashed); test perplexity per core (unigram dashed)."""
    colors = {cell: f"C{k}" for k, cell in enumerate(COPY_CELLS)}
    fig = Figure(figsize=(11, 4.4), layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=(3, 2))
    width = 0.8 / len(COPY_CELLS)
    for k, cell in enumerate(COPY_CELLS):
        accuracy = [r["recall accuracy"] for r in copy_rows if r["model"] == cell]
        left.bar(np.arange(len(p.delays)) + (k - (len(COPY_CELLS) - 1) / 2) * width, accuracy, width,
                 color=colors[cell], label=cell)
    left.axhline(1 / p.symbols, color="k", ls="--", lw=1, label="chance")
    left.set_xticks(range(len(p.delays)), [f"delay {d}" for d in p.delays])
    left.set_ylim(0, 1.02)
    left.set_ylabel("recall accuracy")
    left.set_title(f"copy memory ({p.length} of {p.symbols} symbols)")
    left.legend(frameon=False, fontsize=8, ncols=6, loc="upper center", bbox_to_anchor=(0.5, -0.08))
    for k, r in enumerate(lm_rows):
        right.bar(k, r["test perplexity"], color=colors[r["model"]])
        if r["spikes/neuron/token"] != "":
            right.annotate(f"{r['spikes/neuron/token']:.2f} spikes\n/neuron/token", (k, r["test perplexity"]),
                           ha="center", va="bottom", fontsize=8)
    right.axhline(unigram, color="k", ls="--", lw=1)
    right.text(0.01, unigram, "unigram", transform=right.get_yaxis_transform(), va="bottom", fontsize=8)
    right.set_xticks(range(len(lm_rows)), [r["model"] for r in lm_rows])
    right.set_ylabel("test perplexity")
    right.set_title("word-level language model")
    return fig


def copy_rows(p: Params, seed: int) -> list[dict]:
    """Task (a): one row per delay and core."""
    rows = []
    for delay in p.delays:
        for cell in COPY_CELLS:
            r = train_copy(cell, delay, p, seed)
            rows.append({"task": f"copy memory, delay {delay}", "model": cell, "recall accuracy": r["accuracy"],
                         "chance": 1 / p.symbols, **cost_columns(cell, p.symbols + 2, p.copy_hidden, r["rate"], "step"),
                         "seconds": r["seconds"]})
            print(markdown_table(rows[-1:]))
    return rows


def lm_rows(corpus: Corpus, unigram: float, p: Params, seed: int) -> tuple[list[dict], list[dict]]:
    """Task (b): one row per core, and the per-epoch histories."""
    rows, histories = [], []
    for cell in LM_CELLS:
        r = train_lm(cell, corpus, p, seed)
        rows.append({"task": "language model", "model": cell, "valid perplexity": r["valid_ppl"],
                     "test perplexity": r["test_ppl"], "unigram perplexity": unigram,
                     **cost_columns(cell, p.lm_hidden, p.lm_hidden, r["rate"], "token"), "seconds": r["seconds"]})
        histories += [{"model": cell, **h} for h in r["history"]]
        print(markdown_table(rows[-1:]))
    return rows, histories


def run(record: RunRecord, *, quick: bool = False, seed: int = 0, data: str | None = None,
        lm_epochs: int | None = None) -> dict:
    """Both tasks for every core; returns ``copy[delay][cell]`` and ``lm[cell]`` (the table rows:
    score, spikes and operations per step/token, seconds) and the baselines ``chance`` and
    ``unigram_test_ppl``."""
    overrides = {"lm_epochs": lm_epochs} if lm_epochs is not None else {}
    p = dataclasses.replace(Params(), **{**(QUICK if quick else {}), **overrides})
    corpus = truncated(python_docs_corpus(), p.lm_tokens) if data is None else load_corpus(data)
    unigram = unigram_perplexity(corpus.train, corpus.test, len(corpus.vocab))
    record.write_config({**dataclasses.asdict(p), "quick": quick, "corpus": repr(corpus)}, seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)          # small matrices, one step at a time: one thread is fastest
    try:
        copy, (lm, histories) = copy_rows(p, seed), lm_rows(corpus, unigram, p, seed)
    finally:
        torch.set_num_threads(threads)
    print(markdown_table(copy))
    print(markdown_table(lm))
    record.write_metrics(copy + lm)
    record.save_figure(figure(copy, lm, p, unigram), "spiking_sequences")
    record.write_summary(
        "Spiking vs ANN recurrent networks on sequences", copy,
        f"Copy memory: recall {p.length} of {p.symbols} symbols after the delay; one layer of "
        f"{p.copy_hidden}, {p.copy_iterations} Adam steps (lr {p.copy_lr}) on {p.copy_batch} fresh sequences each, "
        f"accuracy on {p.eval_sequences} held-out sequences; the spiking cores are read out through a trace.\n\n"
        "## Word-level language model\n\n" + markdown_table(lm)
        + f"\n\n{corpus!r}: embedding {p.lm_hidden} (N(0, {p.embedding_std}^2)), one recurrent layer of "
        f"{p.lm_hidden}, dropout {p.lm_dropout}, Adam lr {p.lm_lr}, clip {p.clip}, BPTT {p.lm_bptt}, batch "
        f"{p.lm_batch}, {p.lm_epochs} epoch(s)"
        + (f" of at most {p.lm_max_windows} windows" if p.lm_max_windows else "") + ". Per epoch:\n\n"
        + markdown_table(histories)
        + f"\n\nSpiking cores: beta {p.beta} (RLeaky), threshold {p.slstm_threshold} (SLSTM); seed {seed}."
        "\n\n![spiking_sequences](spiking_sequences.png)")
    return {"copy": {d: {r["model"]: r for r in copy if r["task"] == f"copy memory, delay {d}"} for d in p.delays},
            "chance": 1 / p.symbols, "lm": {r["model"]: r for r in lm}, "unigram_test_ppl": unigram,
            "vocabulary": len(corpus.vocab)}


if __name__ == "__main__":
    raise SystemExit(script_main(run))
