"""Recurrent networks for sequences: torch.nn's RNN, LSTM and GRU and their spiking counterparts from snnTorch.

All recurrent cores share ``torch.nn.RNN``'s interface: ``core(x, state)``
with ``x`` of shape ``(T, B, input)`` returns ``(output (T, B, hidden *
directions), state)``, and ``state=None`` starts from zeros.
:func:`make_recurrent` builds any of them:

- ``"rnn"`` (tanh), ``"lstm"``, ``"gru"``: ``torch.nn`` modules (cuDNN on GPU);
- ``"spiking_rnn"``: per layer, a linear input projection into snnTorch's
  ``RLeaky`` (leaky integrate-and-fire neurons with all-to-all recurrent
  weights, reset by subtraction, surrogate gradient);
- ``"spiking_lstm"``: snnTorch's ``SLSTM`` (an LSTM cell whose output is
  thresholded into spikes).

A spiking core outputs spikes (0/1) and records ``last_spike_rate`` (mean
spikes per neuron and step of its last forward). :class:`SequenceModel` puts
a linear read-out on a core for the three shapes of sequence task:
many-to-one (classify or regress a sequence), many-to-many (a label per
step) and one-to-many (a sequence from one input).
"""
from __future__ import annotations

import math

import snntorch as snn
import torch
from torch import nn

from .. import validation as check

ANN_CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
SPIKING_CELLS = ("spiking_rnn", "spiking_lstm")
CELLS = (*ANN_CELLS, *SPIKING_CELLS)
MODES = ("many_to_one", "many_to_many", "one_to_many")


class SpikingRecurrent(nn.Module):
    """Stacked recurrent spiking layers (``kind``: ``"rleaky"`` or ``"slstm"``) with torch.nn.RNN's interface.

    Args:
        input_size, hidden_size, layers: as ``torch.nn.RNN``.
        kind: ``"rleaky"``: ``Linear(input, hidden)`` then ``snn.RLeaky``
            (membrane decay ``beta`` per step, threshold 1, recurrent
            all-to-all weights); ``"slstm"``: ``snn.SLSTM``.
        beta: membrane decay per step of the RLeaky neurons, in (0, 1).
        dropout: on the spikes between layers.

    ``state``: a tuple with one ``(spikes, membrane)`` (rleaky) or
    ``(synaptic, membrane)`` (slstm) pair of ``(B, hidden)`` tensors per layer.
    """

    def __init__(self, input_size: int, hidden_size: int, layers: int = 1, kind: str = "rleaky",
                 beta: float = 0.9, dropout: float = 0.0):
        super().__init__()
        self.kind = check.choice("SpikingRecurrent", "kind", kind, ("rleaky", "slstm"))
        if not 0 < beta < 1:
            raise ValueError(f"SpikingRecurrent: parameter 'beta' must be in (0, 1), got {beta!r}")
        self.hidden_size, self.layers = hidden_size, layers
        sizes = [input_size] + [hidden_size] * layers
        if self.kind == "rleaky":
            self.inputs = nn.ModuleList(nn.Linear(a, hidden_size) for a in sizes[:-1])
            self.cells = nn.ModuleList(snn.RLeaky(beta=beta, linear_features=hidden_size) for _ in range(layers))
        else:
            self.inputs = nn.ModuleList(nn.Identity() for _ in range(layers))
            self.cells = nn.ModuleList(snn.SLSTM(a, hidden_size) for a in sizes[:-1])
        self.drop = nn.Dropout(dropout)
        self.last_spike_rate = 0.0

    def forward(self, x: torch.Tensor, state=None):
        steps, batch = x.shape[:2]
        if state is None:
            zeros = x.new_zeros(batch, self.hidden_size)
            state = tuple((zeros, zeros) for _ in range(self.layers))
        new_state, total = [], 0.0
        for layer, (project, cell) in enumerate(zip(self.inputs, self.cells)):
            a, b = state[layer]
            drive = project(x if layer == 0 else self.drop(x))
            outputs = []
            for t in range(steps):
                if self.kind == "rleaky":
                    a, b = cell(drive[t], a, b)          # spikes, membrane
                    outputs.append(a)
                else:
                    spikes, a, b = cell(drive[t], a, b)  # spikes, synaptic current, membrane
                    outputs.append(spikes)
            x = torch.stack(outputs)
            total += float(x.detach().mean())
            new_state.append((a, b))
        self.last_spike_rate = total / self.layers
        return x, tuple(new_state)


def make_recurrent(cell: str, input_size: int, hidden_size: int, layers: int = 1, *, dropout: float = 0.0,
                   bidirectional: bool = False, beta: float = 0.9) -> nn.Module:
    """A recurrent core (see the module docstring); ``dropout`` acts between layers."""
    owner = "make_recurrent"
    cell = check.choice(owner, "cell", cell, CELLS)
    input_size = check.integer(owner, "input_size", input_size, minimum=1)
    hidden_size = check.integer(owner, "hidden_size", hidden_size, minimum=1)
    layers = check.integer(owner, "layers", layers, minimum=1)
    dropout = check.real(owner, "dropout", dropout, nonnegative=True)
    if dropout >= 1:
        raise ValueError(f"{owner}: parameter 'dropout' must be in [0, 1), got {dropout!r}")
    if cell in SPIKING_CELLS:
        if bidirectional:
            raise ValueError(f"{owner}: cell {cell!r} runs forward in time only; bidirectional needs one of "
                             f"{list(ANN_CELLS)}")
        return SpikingRecurrent(input_size, hidden_size, layers, "rleaky" if cell == "spiking_rnn" else "slstm",
                                beta=beta, dropout=dropout)
    return ANN_CELLS[cell](input_size, hidden_size, layers, dropout=dropout if layers > 1 else 0.0,
                           bidirectional=bidirectional)


def recurrent_weights(core: nn.Module) -> list[nn.Parameter]:
    """The hidden-to-hidden weight matrices of a core (``weight_hh_*``, RLeaky's recurrent linear)."""
    return [p for name, p in core.named_parameters()
            if name.rsplit(".", 1)[-1].startswith("weight_hh") or name.endswith(".recurrent.weight")]


def orthogonal_init(core: nn.Module, gain: float = 1.0, generator: torch.Generator | None = None) -> None:
    """Orthogonal recurrent weights (Saxe et al. 2014; for RNNs, Le et al. 2015 / Arjovsky et al. 2016):
    each gate's ``hidden x hidden`` block of ``weight_hh`` gets its own orthogonal matrix."""
    with torch.no_grad():
        for w in recurrent_weights(core):
            size = w.shape[1]
            for block in w.split(size, dim=0):
                nn.init.orthogonal_(block, gain=gain, generator=generator)


def set_forget_bias(lstm: nn.LSTM, value: float) -> None:
    """Set every layer's forget-gate bias (``bias_ih`` + ``bias_hh``, gate order i, f, g, o) to ``value``."""
    h = lstm.hidden_size
    with torch.no_grad():
        for name, p in lstm.named_parameters():
            if name.startswith("bias_ih"):
                p[h:2 * h] = value
            elif name.startswith("bias_hh"):
                p[h:2 * h] = 0.0


def detach_state(state):
    """``state`` (a tensor or nested tuples of tensors) cut from its graph (truncated BPTT)."""
    if isinstance(state, torch.Tensor):
        return state.detach()
    return tuple(detach_state(s) for s in state)


class SequenceModel(nn.Module):
    """A recurrent core with a linear read-out.

    Modes (``x``: ``(T, B, input_size)``):

    - ``"many_to_one"``: ``(B, output_size)`` from the last step's output
      (bidirectional: the forward direction's last and the backward
      direction's first output, i.e. both final states); a spiking core reads
      out its spike rate over the whole sequence instead (a single step holds
      too few spikes);
    - ``"many_to_many"``: ``(T, B, output_size)``, one read-out per step;
    - ``"one_to_many"``: ``x`` is ``(B, input_size)``, presented at the first
      of ``steps`` steps (zeros afterwards); returns ``(steps, B, output_size)``.

    Args:
        cell, layers, bidirectional, dropout, beta: of the core (:func:`make_recurrent`).
        init: ``"default"`` (torch's / snnTorch's) or ``"orthogonal"``
            (recurrent weights orthogonal, :func:`orthogonal_init`).
        forget_bias: an LSTM core's forget-gate bias starts here (1: the gates
            start half open, so memories survive early training; Gers et al.
            2000, Jozefowicz et al. 2015).
        steps: output length of ``"one_to_many"``.
        seed: seed of the initialization (None: torch's global generator).
    """

    def __init__(self, input_size: int, hidden_size: int, output_size: int, *, cell: str = "lstm",
                 mode: str = "many_to_one", layers: int = 1, bidirectional: bool = False, dropout: float = 0.0,
                 init: str = "default", forget_bias: float = 1.0, steps: int | None = None, beta: float = 0.9,
                 seed: int | None = None):
        super().__init__()
        owner = "SequenceModel"
        self.mode = check.choice(owner, "mode", mode, MODES)
        init = check.choice(owner, "init", init, ("default", "orthogonal"))
        if self.mode == "one_to_many":
            self.steps = check.integer(owner, "steps", steps, minimum=1) if steps is not None else None
            if self.steps is None:
                raise ValueError(f"{owner}: mode 'one_to_many' needs 'steps', the output length")
        self.cell, self.bidirectional = cell, bool(bidirectional)
        self.input_size, self.hidden_size = input_size, hidden_size
        with torch.random.fork_rng(devices=[], enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(check.seed(owner, seed))
            self.core = make_recurrent(cell, input_size, hidden_size, layers, dropout=dropout,
                                       bidirectional=bidirectional, beta=beta)
            self.readout = nn.Linear(hidden_size * (2 if bidirectional else 1), output_size)
            if init == "orthogonal":
                orthogonal_init(self.core)
            if cell == "lstm":
                set_forget_bias(self.core, check.real(owner, "forget_bias", forget_bias))

    @property
    def spiking(self) -> bool:
        return self.cell in SPIKING_CELLS

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        expected = 2 if self.mode == "one_to_many" else 3
        if x.dim() != expected or x.shape[-1] != self.input_size:
            shape = "(B, input_size)" if expected == 2 else "(T, B, input_size)"
            raise ValueError(f"SequenceModel: mode {self.mode!r} expects x of shape {shape} with input_size "
                             f"{self.input_size}, got {tuple(x.shape)}")
        if self.mode == "one_to_many":
            x = torch.cat([x.unsqueeze(0), x.new_zeros(self.steps - 1, *x.shape)])
        output, _ = self.core(x)
        if self.mode != "many_to_one":
            return self.readout(output)
        if self.spiking:
            return self.readout(output.mean(0))
        if self.bidirectional:
            h = self.hidden_size
            return self.readout(torch.cat([output[-1, :, :h], output[0, :, h:]], dim=-1))
        return self.readout(output[-1])


def input_gradient_norms(model: SequenceModel, x: torch.Tensor, loss_fn) -> torch.Tensor:
    """``|dL/dx_t|`` for every step ``t`` (shape ``(T,)``, averaged over the batch): how much the loss
    at the end still depends on each earlier input, the signature of vanishing or exploding gradients."""
    x = x.detach().clone().requires_grad_(True)
    loss = loss_fn(model(x))
    (grad,) = torch.autograd.grad(loss, x)
    return grad.norm(dim=-1).mean(dim=1)
