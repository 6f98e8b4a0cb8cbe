"""Word-level recurrent language model (Mikolov et al. 2010; Zaremba et al. 2014).

``tokens (T, B) -> embedding -> dropout -> RNN layers (LSTM, GRU or tanh RNN,
or a spiking core: see :mod:`neuroai.models.recurrent`) -> dropout -> linear
-> logits (T, B, V)``; the decoder may share the
embedding's weights (Press & Wolf 2017; Inan et al. 2017). Training
(:func:`fit_language_model`) is truncated backpropagation through time over
``B`` parallel streams of the corpus (:func:`neuroai.data.text.batchify`):
windows of ``bptt`` tokens, the hidden state carried from one window to the
next but detached, so gradients flow back at most ``bptt`` steps. Gradients
are clipped to a global norm; the learning rate is divided by ``anneal``
whenever the validation perplexity fails to improve; the model with the
best validation perplexity is kept. Perplexity is ``exp`` of the mean
cross-entropy per token (natural log).
"""
from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from .. import validation as check
from ..data.text import Corpus, Vocabulary, batchify, bptt_windows
from ..optim import make_optimizer, step_protocol
from ..training.callbacks import TrainingDiverged
from ..training.checkpoint import get_rng_state, load_checkpoint, save_checkpoint, set_rng_state
from .recurrent import CELLS, SPIKING_CELLS, detach_state, make_recurrent


class RNNLanguageModel(nn.Module):
    """Embedding, stacked recurrent layers and a softmax read-out over the vocabulary.

    Args:
        - vocab_size: ``V``.
        - embedding: embedding width.
        - hidden: units per recurrent layer.
        - layers: stacked recurrent layers.
        - cell: ``"lstm"``, ``"gru"`` or ``"rnn"`` (tanh), from ``torch.nn`` (cuDNN on GPU), or
          ``"spiking_rnn"`` / ``"spiking_lstm"`` (snnTorch; ``last_spike_rate`` of
          ``model.rnn`` then gives the spikes per neuron and token).
        - dropout: on the embeddings, between layers and before the decoder (Zaremba et al. 2014).
        - tie_weights: share the decoder's weight with the embedding (needs ``embedding == hidden``).
        - init_range: weights (not biases) start uniform in ``[-init_range, init_range]``
          (a spiking core keeps snnTorch's initialization).
        - embedding_std: the embedding starts normal with this standard deviation; None:
          uniform like the other weights with an ANN core, 1 (``torch.nn.Embedding``'s
          default) with a spiking core, whose membranes word vectors within ``+-0.1``
          would leave far below threshold (a silent core learns slowly, if at all).
        - spiking_options: keyword arguments of a spiking core
          (:class:`~neuroai.models.recurrent.SpikingRecurrent`: ``beta``, ``threshold``,
          ``learn_beta``, ``learn_threshold``, ``readout``, ``trace_decay``).
        - seed: seed of the initialization (None: torch's global generator).
    """

    def __init__(self, vocab_size: int, embedding: int = 200, hidden: int = 200, layers: int = 2,
                 cell: str = "lstm", dropout: float = 0.2, tie_weights: bool = False, init_range: float = 0.1,
                 embedding_std: float | None = None, spiking_options: dict | None = None,
                 seed: int | None = None):
        super().__init__()
        owner = "RNNLanguageModel"
        vocab_size = check.integer(owner, "vocab_size", vocab_size, minimum=2)
        embedding = check.integer(owner, "embedding", embedding, minimum=1)
        hidden = check.integer(owner, "hidden", hidden, minimum=1)
        layers = check.integer(owner, "layers", layers, minimum=1)
        self.cell = check.choice(owner, "cell", cell, CELLS)
        dropout = check.real(owner, "dropout", dropout, nonnegative=True)
        if dropout >= 1:
            raise ValueError(f"{owner}: parameter 'dropout' must be in [0, 1), got {dropout!r}")
        tie_weights = check.flag(owner, "tie_weights", tie_weights)
        check.memory(owner, 8.0 * vocab_size * (embedding + hidden), f"the embedding and decoder of "
                     f"{vocab_size} words", "use a smaller vocabulary, embedding or hidden size")
        if tie_weights and embedding != hidden:
            raise ValueError(f"{owner}: tie_weights needs embedding == hidden, got embedding {embedding} and "
                             f"hidden {hidden}")
        init_range = check.real(owner, "init_range", init_range, positive=True)
        if embedding_std is None and self.cell in SPIKING_CELLS:
            embedding_std = 1.0
        if embedding_std is not None:
            embedding_std = check.real(owner, "embedding_std", embedding_std, positive=True)
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(vocab_size, embedding)
        with torch.random.fork_rng(devices=[], enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(check.seed(owner, seed))
            self.rnn = make_recurrent(cell, embedding, hidden, layers, dropout=dropout, **(spiking_options or {}))
            self.decoder = nn.Linear(hidden, vocab_size)
            with torch.no_grad():
                for name, p in self.named_parameters():
                    if name.startswith("rnn.") and cell in SPIKING_CELLS:
                        continue
                    if "bias" in name:
                        p.zero_()
                    elif name == "encoder.weight" and embedding_std is not None:
                        p.normal_(0.0, embedding_std)
                    else:
                        p.uniform_(-init_range, init_range)
        if tie_weights:
            self.decoder.weight = self.encoder.weight

    @property
    def vocab_size(self) -> int:
        """The number of token ids, ``V`` (rows of the embedding)."""
        return self.encoder.num_embeddings

    def forward(self, tokens: torch.Tensor, state=None) -> tuple[torch.Tensor, object]:
        """``tokens`` (T, B) int64 -> logits (T, B, V) and the final state (None: start from zeros)."""
        if tokens.dim() != 2 or tokens.dtype != torch.long:
            raise ValueError(f"RNNLanguageModel: expected tokens of shape (T, B) and dtype int64, got shape "
                             f"{tuple(tokens.shape)} and dtype {tokens.dtype}")
        output, state = self.rnn(self.drop(self.encoder(tokens)), state)
        return self.decoder(self.drop(output)), state


def unigram_perplexity(train: torch.Tensor, test: torch.Tensor, vocab_size: int) -> float:
    """The baseline above uniform: perplexity on the token ids ``test`` of the word
    frequencies counted on ``train`` (add-one smoothed)."""
    counts = torch.bincount(train, minlength=vocab_size).double() + 1
    log_p = torch.log(counts / counts.sum())
    return math.exp(-float(log_p[test].mean()))


@torch.no_grad()
def perplexity(model: RNNLanguageModel, data: torch.Tensor, bptt: int = 35) -> float:
    """``exp`` of the mean per-token cross-entropy of ``model`` on ``data``
    (T, B), read in windows of ``bptt`` with the state carried across them."""
    mode = model.training
    model.eval()
    device = model.decoder.weight.device
    total, count, state = 0.0, 0, None
    for inputs, targets in bptt_windows(data, bptt):
        logits, state = model(inputs.to(device), state)
        total += float(nn.functional.cross_entropy(logits.flatten(0, 1), targets.to(device).flatten(),
                                                   reduction="sum"))
        count += targets.numel()
    model.train(mode)
    return math.exp(total / count)


@dataclass(frozen=True)
class LMTraining:
    """Hyper-parameters of :func:`fit_language_model`; the defaults are those of
    PyTorch's word-language-model example (2x200 LSTM on PTB-size text)."""
    batch_size: int = 20
    eval_batch_size: int = 10
    bptt: int = 35
    optimizer: str = "sgd"       # any name of neuroai.optim.OPTIMIZERS that needs no closure
    lr: float = 20.0
    clip: float = 0.25           # global gradient-norm bound (0: no clipping)
    anneal: float = 4.0          # lr /= anneal when validation perplexity does not improve
    epochs: int = 6
    max_windows: int | None = None  # training windows per epoch (None: the whole training stream)

    def __post_init__(self):
        owner = "LMTraining"
        for name in ("batch_size", "eval_batch_size", "bptt", "epochs"):
            check.integer(owner, name, getattr(self, name), minimum=1)
        check.real(owner, "lr", self.lr, positive=True)
        check.real(owner, "clip", self.clip, nonnegative=True)
        if check.real(owner, "anneal", self.anneal, positive=True) < 1:
            raise ValueError(f"{owner}: parameter 'anneal' must be >= 1, got {self.anneal!r}")
        if self.max_windows is not None:
            check.integer(owner, "max_windows", self.max_windows, minimum=1)


def train_epoch(model: RNNLanguageModel, data: torch.Tensor, optimizer: torch.optim.Optimizer, bptt: int,
                clip: float, max_windows: int | None = None, progress=None) -> tuple[float, int]:
    """One pass of truncated BPTT over ``data`` (T, B); returns the training
    perplexity and the number of tokens seen."""
    model.train()
    device = model.decoder.weight.device
    total, count, state = 0.0, 0, None
    for k, (inputs, targets) in enumerate(bptt_windows(data, bptt)):
        if max_windows is not None and k >= max_windows:
            break
        state = None if state is None else detach_state(state)
        logits, state = model(inputs.to(device), state)
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), targets.to(device).flatten())
        if not torch.isfinite(loss):
            raise TrainingDiverged(f"fit_language_model: the training loss became {float(loss.detach())} (NaN or "
                                   f"infinite) at window {k}; lower the learning rate or clip the gradients",
                                   epoch=0, step=k, global_step=k)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        total += float(loss.detach()) * targets.numel()
        count += targets.numel()
        if progress is not None:
            progress.update(targets.numel())
    return math.exp(total / count), count


_CHECKPOINT_KEYS = ("config", "model", "optimizer", "history", "best_ppl", "best_model", "rng")


def fit_language_model(model: RNNLanguageModel, corpus: Corpus, config: LMTraining = LMTraining(), *,
                       seed: int = 0, checkpoint: str | Path | None = None, progress: bool = True) -> dict:
    """Train ``model`` on ``corpus`` (see the module docstring) and return its history.

    Returns ``{"history": [per-epoch dict: epoch, lr, train_ppl, valid_ppl,
    seconds, tokens_per_second], "valid_ppl", "test_ppl"}``, the last two of
    the best model on validation, which ``model`` holds on return.
    ``checkpoint``: a file written atomically after every epoch (model,
    optimizer, best model, history, random states); if it exists, training
    resumes after its last epoch (``config.epochs`` may have grown; the rest
    must match) and gives the same numbers as an uninterrupted run. A
    ``checkpoint`` that exists but is not such a file (a folder, not a neuroai
    checkpoint, without its keys, written with another config) is a
    ``ValueError`` naming it, as in :func:`~neuroai.training.load_checkpoint`.
    """
    if not isinstance(corpus, Corpus):
        raise TypeError(f"fit_language_model: parameter 'corpus' must be a neuroai.data.text.Corpus, got "
                        f"{type(corpus).__name__}")
    if model.vocab_size != len(corpus.vocab):
        raise ValueError(f"fit_language_model: the model's vocabulary ({model.vocab_size}) differs from the "
                         f"corpus's ({len(corpus.vocab)})")
    c = config
    optimizer = make_optimizer(c.optimizer, model.parameters(), lr=c.lr)
    protocol = step_protocol(optimizer)
    if protocol.requires_closure or protocol.create_graph:
        raise ValueError(f"fit_language_model: optimizer {c.optimizer!r} needs a closure or second-order "
                         "gradients; truncated BPTT takes one clipped first-order step per window (use sgd, "
                         "momentum, adam, ...)")
    train = batchify(corpus.train, c.batch_size)
    valid, test = batchify(corpus.valid, c.eval_batch_size), batchify(corpus.test, c.eval_batch_size)
    torch.manual_seed(check.seed("fit_language_model", seed))
    history, best_ppl, best_state = [], math.inf, None
    if checkpoint is not None and check.file_path("fit_language_model", "checkpoint", checkpoint).exists():
        saved = load_checkpoint(checkpoint, _CHECKPOINT_KEYS, owner="fit_language_model", name="checkpoint")
        settings = {k: v for k, v in asdict(c).items() if k != "epochs"}   # a resumed run may train longer
        written = saved["config"]
        if not isinstance(written, dict) or {k: v for k, v in written.items() if k != "epochs"} != settings:
            raise ValueError(f"fit_language_model: checkpoint {checkpoint} was written with {saved['config']}, "
                             f"not {asdict(c)}")
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        history, best_ppl, best_state = saved["history"], saved["best_ppl"], saved["best_model"]
        set_rng_state(saved["rng"])
    windows = -(-(len(train) - 1) // c.bptt)
    tokens_per_epoch = min(windows, c.max_windows or windows) * c.bptt * c.batch_size
    for epoch in range(len(history) + 1, c.epochs + 1):
        start = time.perf_counter()
        with tqdm(total=tokens_per_epoch, unit="tok", desc=f"epoch {epoch}/{c.epochs}", disable=not progress,
                  leave=False) as bar:
            train_ppl, tokens = train_epoch(model, train, optimizer, c.bptt, c.clip, c.max_windows, bar)
        seconds = time.perf_counter() - start
        valid_ppl = perplexity(model, valid, c.bptt)
        lr = optimizer.param_groups[0]["lr"]
        history.append(dict(epoch=epoch, lr=lr, train_ppl=train_ppl, valid_ppl=valid_ppl, seconds=seconds,
                            tokens_per_second=tokens / seconds))
        if valid_ppl < best_ppl:
            best_ppl = valid_ppl
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            for group in optimizer.param_groups:
                group["lr"] = group["lr"] / c.anneal
        if checkpoint is not None:
            save_checkpoint(dict(config=asdict(c), model=model.state_dict(), optimizer=optimizer.state_dict(),
                                 history=history, best_ppl=best_ppl, best_model=best_state,
                                 rng=get_rng_state()), checkpoint)
    model.load_state_dict(best_state)
    return {"history": history, "valid_ppl": best_ppl, "test_ppl": perplexity(model, test, c.bptt)}


@torch.no_grad()
def generate(model: RNNLanguageModel, vocab: Vocabulary, prompt: Sequence[str] = (), length: int = 30, *,
             temperature: float = 1.0, top_k: int | None = None, seed: int = 0) -> list[str]:
    """Sample ``length`` tokens after ``prompt`` (words; empty: start after an
    ``<eos>``). Each next token is drawn from ``softmax(logits / temperature)``
    restricted to the ``top_k`` most likely tokens (None: all), with a
    generator seeded by ``seed``; temperature -> 0 approaches greedy decoding."""
    owner = "generate"
    length = check.integer(owner, "length", length, minimum=1)
    temperature = check.real(owner, "temperature", temperature, positive=True)
    if top_k is not None:
        top_k = check.integer(owner, "top_k", top_k, minimum=1)
    generator = torch.Generator().manual_seed(check.seed(owner, seed))
    mode = model.training
    model.eval()
    device = model.decoder.weight.device
    context = vocab.encode(list(prompt) or ["<eos>"]).to(device).unsqueeze(1)
    logits, state = model(context)
    words = []
    for _ in range(length):
        scores = logits[-1, 0] / temperature
        if top_k is not None and top_k < len(scores):
            cut = torch.topk(scores, top_k).values[-1]
            scores = scores.masked_fill(scores < cut, -math.inf)
        token = torch.multinomial(torch.softmax(scores.float().cpu(), 0), 1, generator=generator)
        words.append(vocab.itos[int(token)])
        logits, state = model(token.to(device).view(1, 1), state)
    model.train(mode)
    return words
