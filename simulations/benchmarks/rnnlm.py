"""Does neuroai's RNN language model train as fast as a plain PyTorch loop, and as well?

The configuration of PyTorch's word-language-model example: embedding 200,
two LSTM layers of 200, dropout 0.2, BPTT 35, batch 20, SGD at learning
rate 20, gradients clipped to norm 0.25. Both sides train on the same token
windows of the embedded corpus (:func:`neuroai.data.python_docs_corpus`)
from the same initial weights (the reference copies neuroai's) and the
same seed:

- **neuroai**: :func:`neuroai.models.rnnlm.train_epoch` and
  :func:`~neuroai.models.rnnlm.perplexity` on a ``RNNLanguageModel``;
- **reference**: a plain loop written as in PyTorch's example
  (``nn.Embedding``, ``nn.LSTM``, ``nn.Linear``, hidden state repackaged
  between windows, ``clip_grad_norm_``, a manual ``p.data.add_(-lr * grad)``).

Timed: training tokens per second over ``--windows`` windows (after a
warm-up), evaluation tokens per second on the validation stream (batch
10), each the median of ``--repeats`` alternating runs; and the validation
perplexity each side reaches after the same tokens. Targets: speed ratio
neuroai/reference >= 1.0, perplexity no worse.

Usage: ``python simulations/benchmarks/rnnlm.py [--quick] [--threads N] [--device cpu|cuda]``
"""
from __future__ import annotations

import argparse
import math
import platform
import statistics
import time

import torch
from torch import nn

from neuroai.data import python_docs_corpus
from neuroai.data.text import batchify, bptt_windows
from neuroai.models.rnnlm import RNNLanguageModel, perplexity, train_epoch

EMBED, HIDDEN, LAYERS, DROPOUT, BPTT, BATCH, LR, CLIP = 200, 200, 2, 0.2, 35, 20, 20.0, 0.25


class Reference(nn.Module):
    """The model of PyTorch's word-language-model example (LSTM, untied)."""

    def __init__(self, vocab: int):
        super().__init__()
        self.drop = nn.Dropout(DROPOUT)
        self.encoder = nn.Embedding(vocab, EMBED)
        self.rnn = nn.LSTM(EMBED, HIDDEN, LAYERS, dropout=DROPOUT)
        self.decoder = nn.Linear(HIDDEN, vocab)

    def forward(self, x, hidden):
        output, hidden = self.rnn(self.drop(self.encoder(x)), hidden)
        return self.decoder(self.drop(output)), hidden


def repackage(hidden):
    return tuple(h.detach() for h in hidden)


def reference_train(model: Reference, data: torch.Tensor, windows: int) -> None:
    model.train()
    hidden = tuple(torch.zeros(LAYERS, BATCH, HIDDEN, device=data.device) for _ in range(2))
    criterion = nn.CrossEntropyLoss()
    for i, start in enumerate(range(0, data.size(0) - 1, BPTT)):
        if i >= windows:
            break
        length = min(BPTT, len(data) - 1 - start)
        x, y = data[start:start + length], data[start + 1:start + 1 + length]
        hidden = repackage(hidden)
        model.zero_grad()
        output, hidden = model(x, hidden)
        loss = criterion(output.view(-1, output.size(-1)), y.reshape(-1))
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        for p in model.parameters():
            p.data.add_(p.grad, alpha=-LR)


@torch.no_grad()
def reference_perplexity(model: Reference, data: torch.Tensor) -> float:
    model.eval()
    hidden = tuple(torch.zeros(LAYERS, data.size(1), HIDDEN, device=data.device) for _ in range(2))
    total = 0.0
    for x, y in bptt_windows(data, BPTT):
        output, hidden = model(x, hidden)
        total += float(nn.functional.cross_entropy(output.view(-1, output.size(-1)), y.reshape(-1), reduction="sum"))
    return math.exp(total / (len(data) - 1) / data.size(1))


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--windows", type=int, default=None, help="training windows per timed run (default 200)")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    windows = args.windows or (30 if args.quick else 200)
    repeats = args.repeats or (1 if args.quick else 3)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    corpus = python_docs_corpus()
    train = batchify(corpus.train, BATCH).to(device)
    valid = batchify(corpus.valid, 10).to(device)
    vocab = len(corpus.vocab)
    print(f"torch {torch.__version__}, {args.device}, {torch.get_num_threads()} thread(s), "
          f"{platform.processor() or platform.machine()}; {corpus!r}")

    ours = RNNLanguageModel(vocab, EMBED, HIDDEN, LAYERS, "lstm", DROPOUT, seed=0).to(device)
    initial = {k: v.clone() for k, v in ours.state_dict().items()}
    ref = Reference(vocab).to(device)

    def fresh():
        ours.load_state_dict(initial)
        ref.load_state_dict(initial)
        return torch.optim.SGD(ours.parameters(), lr=LR)

    fresh()
    train_epoch(ours, train, torch.optim.SGD(ours.parameters(), lr=LR), BPTT, CLIP, 3)  # warm-up
    reference_train(ref, train, 3)
    t_ours, t_ref, ppl_ours, ppl_ref = [], [], [], []
    for _ in range(repeats):
        optimizer = fresh()
        torch.manual_seed(0)
        t_ours.append(timed(lambda: train_epoch(ours, train, optimizer, BPTT, CLIP, windows)))
        ppl_ours.append(perplexity(ours, valid, BPTT))
        torch.manual_seed(0)
        t_ref.append(timed(lambda: reference_train(ref, train, windows)))
        ppl_ref.append(reference_perplexity(ref, valid))
    e_ours = statistics.median(timed(lambda: perplexity(ours, valid, BPTT)) for _ in range(repeats))
    e_ref = statistics.median(timed(lambda: reference_perplexity(ref, valid)) for _ in range(repeats))
    tokens = windows * BPTT * BATCH
    eval_tokens = valid.numel()
    tr_ours, tr_ref = tokens / statistics.median(t_ours), tokens / statistics.median(t_ref)
    ev_ours, ev_ref = eval_tokens / e_ours, eval_tokens / e_ref
    print(f"\n## 2x200 LSTM, BPTT {BPTT}, batch {BATCH}: {windows} training windows ({tokens:,} tokens), "
          f"median of {repeats}\n")
    print("| | neuroai | reference | ratio neuroai/reference |")
    print("|---|---|---|---|")
    print(f"| training tokens/s | {tr_ours:,.0f} | {tr_ref:,.0f} | {tr_ours / tr_ref:.2f} |")
    print(f"| evaluation tokens/s | {ev_ours:,.0f} | {ev_ref:,.0f} | {ev_ours / ev_ref:.2f} |")
    print(f"| validation perplexity after {tokens:,} tokens | {statistics.median(ppl_ours):.1f} | "
          f"{statistics.median(ppl_ref):.1f} | {statistics.median(ppl_ours) / statistics.median(ppl_ref):.3f} |")


if __name__ == "__main__":
    main()
