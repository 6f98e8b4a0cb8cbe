"""Recurrent networks for sequences: torch.nn's RNN, LSTM and GRU and their spiking counterparts from snnTorch.

All recurrent cores share ``torch.nn.RNN``'s interface: ``core(x, state)``
with ``x`` of shape ``(T, B, input)`` returns ``(output (T, B, hidden *
directions), state)``, and ``state=None`` starts from zeros.
:func:`make_recurrent` builds any of them:

- ``"rnn"`` (tanh), ``"lstm"``, ``"gru"``: ``torch.nn`` modules (cuDNN on GPU);
- ``"spiking_rnn"``: per layer, a linear input projection into snnTorch's
  ``RLeaky`` (leaky integrate-and-fire neurons with all-to-all recurrent
  weights, reset by subtraction, surrogate gradient);
- ``"spiking_lstm"``: snnTorch's ``SLSTM`` (an LSTM cell whose hidden state
  is thresholded into spikes).

A spiking core (:class:`SpikingRecurrent`) passes only spikes (0/1) from
layer to layer and outputs its last layer's spikes or their trace (an
exponentially weighted spike rate); it records ``last_spike_rate`` (mean
spikes per neuron and step of its last forward) and the rate of each layer.
:class:`SequenceModel` puts a linear read-out on a core for the three shapes
of sequence task: many-to-one (classify or regress a sequence), many-to-many
(a label per step) and one-to-many (a sequence from one input).
"""
from __future__ import annotations

import snntorch as snn
import torch
from torch import nn

from .. import validation as check
from ..backends import torch_surrogates

ANN_CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
SPIKING_CELLS = ("spiking_rnn", "spiking_lstm")
CELLS = (*ANN_CELLS, *SPIKING_CELLS)
MODES = ("many_to_one", "many_to_many", "one_to_many")
READOUTS = ("spikes", "trace")
SPIKING_OPTIONS = ("beta", "threshold", "learn_beta", "learn_threshold", "readout", "trace_decay")


class SpikingRecurrent(nn.Module):
    """Stacked recurrent spiking layers (``kind``: ``"rleaky"`` or ``"slstm"``) with torch.nn.RNN's interface.

    ``forward(x (T, B, input_size), state=None) -> (output (T, B, hidden), state)``.
    Each layer passes only its spikes (0/1, ``(T, B, hidden)``) to the next;
    ``output`` is the last layer's spikes (``readout="spikes"``) or their
    trace (``readout="trace"``), ``r_t = d r_{t-1} + s_t`` with
    ``d = trace_decay`` (in ``[0, 1 / (1 - d)]``): the membrane of a
    non-spiking leaky-integrator read-out neuron per hidden unit, fed by that
    unit's spikes alone (Bellec et al. 2018; Zenke & Vogels 2021). Gradients cross every
    threshold through the arctangent surrogate (snnTorch's default)
    ``dS/dU = 1 / (1 + (pi (U - threshold))^2)``, from
    :mod:`neuroai.backends.torch_surrogates`, so that ``torch.func`` and the
    curvature tools of :mod:`neuroai.landscape` work through these models.

    Args:
        - input_size, hidden_size, layers: as ``torch.nn.RNN``.
        - kind: ``"rleaky"``: ``Linear(input, hidden)`` then ``snn.RLeaky``,
          ``U_t = beta U_{t-1} + W x_t + V s_{t-1} - threshold s_{t-1}``,
          ``s_t = [U_t > threshold]`` (all-to-all recurrent weights ``V``
          on the spikes, reset by subtraction); ``"slstm"``: ``snn.SLSTM``,
          an ``LSTMCell`` whose hidden state ``h`` is the membrane,
          ``s_t = [h_t > threshold]``. SLSTM recurs on ``h`` (continuous,
          as in snnTorch); only its spikes leave the layer.
        - beta: membrane decay per step of the RLeaky neurons (its initial value if
          learned), in (0, 1); not used by slstm. The default 0.2 suits one step
          per token or symbol: the membrane mostly reflects the current input,
          and memory lives in the recurrent spikes (snnTorch's customary 0.9
          integrates over ~10 inputs; on word-level language modelling it
          trains to twice the perplexity).
        - threshold: firing threshold, > 0; None: 1 for rleaky (snnTorch's
          default) and 0.1 for slstm. An SLSTM membrane ``h = o tanh(c)``
          lies in (-1, 1), so slstm needs a threshold below 1 (at 1 it never fires).
        - learn_beta: one trainable decay per RLeaky neuron (snnTorch clamps it to [0, 1]).
        - learn_threshold: one trainable threshold per neuron.
        - readout: ``"spikes"`` or ``"trace"`` (see above).
        - trace_decay: ``d`` of the trace read-out, in (0, 1).
        - dropout: on the spikes between layers.

    ``state``: a tuple with one ``(spikes, membrane)`` (rleaky) or
    ``(synaptic, membrane)`` (slstm) pair of ``(B, hidden)`` tensors per
    layer; with ``readout="trace"`` the last layer's tuple also holds the
    trace. After each forward, ``last_layer_spike_rates`` holds each layer's
    mean spikes per neuron and step, and ``last_spike_rate`` their mean.
    """

    def __init__(self, input_size: int, hidden_size: int, layers: int = 1, kind: str = "rleaky", *,
                 beta: float = 0.2, threshold: float | None = None, learn_beta: bool = False,
                 learn_threshold: bool = False, readout: str = "spikes", trace_decay: float = 0.9,
                 dropout: float = 0.0):
        super().__init__()
        owner = "SpikingRecurrent"
        self.kind = check.choice(owner, "kind", kind, ("rleaky", "slstm"))
        self.readout = check.choice(owner, "readout", readout, READOUTS)
        beta = _open_unit(owner, "beta", beta)
        self.trace_decay = _open_unit(owner, "trace_decay", trace_decay)
        if threshold is None:
            threshold = 1.0 if self.kind == "rleaky" else 0.1
        threshold = check.real(owner, "threshold", threshold, positive=True)
        if self.kind == "slstm" and threshold >= 1:
            raise ValueError(f"{owner}: parameter 'threshold' must be < 1 for kind 'slstm' (its membrane, the "
                             f"LSTM's hidden state, lies in (-1, 1), so it would never fire), got {threshold!r}")
        self.hidden_size, self.layers = hidden_size, layers
        sizes = [input_size] + [hidden_size] * layers
        if self.kind == "rleaky":
            self.inputs = nn.ModuleList(nn.Linear(a, hidden_size) for a in sizes[:-1])
            self.cells = nn.ModuleList(
                snn.RLeaky(beta=_per_neuron(beta, hidden_size, learn_beta), linear_features=hidden_size,
                           threshold=_per_neuron(threshold, hidden_size, learn_threshold), learn_beta=learn_beta,
                           learn_threshold=learn_threshold, spike_grad=torch_surrogates.atan()) for _ in range(layers))
        else:
            self.inputs = nn.ModuleList(nn.Identity() for _ in range(layers))
            self.cells = nn.ModuleList(
                snn.SLSTM(a, hidden_size, threshold=_per_neuron(threshold, hidden_size, learn_threshold),
                          learn_threshold=learn_threshold, spike_grad=torch_surrogates.atan()) for a in sizes[:-1])
        self.drop = nn.Dropout(dropout)
        self.last_layer_spike_rates: tuple[float, ...] = (0.0,) * layers
        self.last_spike_rate = 0.0

    def initial_state(self, batch: int, like: torch.Tensor) -> tuple:
        """The all-zero state for ``batch`` sequences (dtype and device of ``like``)."""
        zeros = like.new_zeros(batch, self.hidden_size)
        state = [(zeros, zeros)] * self.layers
        if self.readout == "trace":
            state[-1] = (zeros, zeros, zeros)
        return tuple(state)

    def forward(self, x: torch.Tensor, state=None):
        """``x`` (T, B, input_size) from ``state`` (None: :meth:`initial_state`) -> the last layer's spikes or
        trace (T, B, hidden) and the final state; records ``last_layer_spike_rates`` and ``last_spike_rate``."""
        steps, batch = x.shape[:2]
        if state is None:
            state = self.initial_state(batch, x)
        new_state, rates = [], []
        for layer, (project, cell) in enumerate(zip(self.inputs, self.cells)):
            a, b = state[layer][:2]
            drive = project(x if layer == 0 else self.drop(x))
            spikes = []
            for t in range(steps):
                if self.kind == "rleaky":
                    a, b = cell(drive[t], a, b)                  # spikes, membrane
                    spikes.append(a)
                else:
                    # the LSTMCell of snn.SLSTM stepped here: SLSTM.forward (snnTorch 1.0) silently restarts
                    # from zeros whenever input_size != hidden_size; no reset, as SLSTM's default
                    b, a = cell.lstm_cell(drive[t], (b, a))      # membrane h, synaptic current c
                    spikes.append(cell.fire(b))
            x = torch.stack(spikes)
            rates.append(float(x.detach().mean()))
            new_state.append((a, b))
        self.last_layer_spike_rates = tuple(rates)
        self.last_spike_rate = sum(rates) / self.layers
        if self.readout == "trace":
            trace, traces, d = state[-1][2], [], self.trace_decay
            for t in range(steps):
                trace = d * trace + x[t]
                traces.append(trace)
            x = torch.stack(traces)
            new_state[-1] = (*new_state[-1], trace)
        return x, tuple(new_state)


def _per_neuron(value: float, size: int, learn: bool):
    """A learned decay or threshold: a fresh tensor of one value per neuron (snnTorch wraps it in a
    Parameter without copying); a fixed one stays a scalar."""
    return torch.full((size,), value) if learn else value


def _open_unit(owner: str, name: str, value) -> float:
    """A real number strictly between 0 and 1."""
    value = check.real(owner, name, value)
    if not 0 < value < 1:
        raise ValueError(f"{owner}: parameter '{name}' must be in (0, 1), got {value!r}")
    return value


def make_recurrent(cell: str, input_size: int, hidden_size: int, layers: int = 1, *, dropout: float = 0.0,
                   bidirectional: bool = False, **spiking_options) -> nn.Module:
    """A recurrent core (see the module docstring); ``dropout`` acts between layers.
    ``spiking_options``: keyword arguments of :class:`SpikingRecurrent` (``beta``,
    ``threshold``, ``learn_beta``, ``learn_threshold``, ``readout``, ``trace_decay``),
    for the spiking cells only."""
    owner = "make_recurrent"
    cell = check.choice(owner, "cell", cell, CELLS)
    input_size = check.integer(owner, "input_size", input_size, minimum=1)
    hidden_size = check.integer(owner, "hidden_size", hidden_size, minimum=1)
    layers = check.integer(owner, "layers", layers, minimum=1)
    dropout = check.real(owner, "dropout", dropout, nonnegative=True)
    if dropout >= 1:
        raise ValueError(f"{owner}: parameter 'dropout' must be in [0, 1), got {dropout!r}")
    bidirectional = check.flag(owner, "bidirectional", bidirectional)
    weights = 4 * hidden_size * (input_size + hidden_size + 2) * layers * (2 if bidirectional else 1)
    check.memory(owner, 8.0 * weights, f"about {weights} parameters", "use fewer or smaller layers")
    if cell in SPIKING_CELLS:
        if bidirectional:
            raise ValueError(f"{owner}: cell {cell!r} runs forward in time only; bidirectional needs one of "
                             f"{list(ANN_CELLS)}")
        unknown = sorted(set(spiking_options) - set(SPIKING_OPTIONS))
        if unknown:
            raise TypeError(f"{owner}: unknown spiking options {unknown}; expected some of {list(SPIKING_OPTIONS)}")
        return SpikingRecurrent(input_size, hidden_size, layers, "rleaky" if cell == "spiking_rnn" else "slstm",
                                dropout=dropout, **spiking_options)
    if spiking_options:
        raise ValueError(f"{owner}: options {sorted(spiking_options)} apply to the spiking cells "
                         f"{list(SPIKING_CELLS)} only, not to {cell!r}")
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
      direction's first output, i.e. both final states); a spiking core with
      ``readout="spikes"`` reads out its spike rate over the whole sequence
      instead (a single step holds too few spikes; a trace read-out is a rate already);
    - ``"many_to_many"``: ``(T, B, output_size)``, one read-out per step;
    - ``"one_to_many"``: ``x`` is ``(B, input_size)``, presented at the first
      of ``steps`` steps (zeros afterwards); returns ``(steps, B, output_size)``.

    Args:
        - cell, layers, bidirectional, dropout: of the core (:func:`make_recurrent`).
        - spiking_options: keyword arguments of a spiking core (:class:`SpikingRecurrent`:
          ``beta``, ``threshold``, ``learn_beta``, ``learn_threshold``, ``readout``, ``trace_decay``).
        - init: ``"default"`` (torch's / snnTorch's) or ``"orthogonal"``
          (recurrent weights orthogonal, :func:`orthogonal_init`).
        - forget_bias: an LSTM core's forget-gate bias starts here (1: the gates
          start half open, so memories survive early training; Gers et al.
          2000, Jozefowicz et al. 2015).
        - steps: output length of ``"one_to_many"``.
        - seed: seed of the initialization (None: torch's global generator).
    """

    def __init__(self, input_size: int, hidden_size: int, output_size: int, *, cell: str = "lstm",
                 mode: str = "many_to_one", layers: int = 1, bidirectional: bool = False, dropout: float = 0.0,
                 init: str = "default", forget_bias: float = 1.0, steps: int | None = None,
                 spiking_options: dict | None = None, seed: int | None = None):
        super().__init__()
        owner = "SequenceModel"
        input_size = check.integer(owner, "input_size", input_size, minimum=1)
        hidden_size = check.integer(owner, "hidden_size", hidden_size, minimum=1)
        output_size = check.integer(owner, "output_size", output_size, minimum=1)
        check.memory(owner, 8.0 * hidden_size * output_size, f"a {hidden_size} x {output_size} read-out",
                     "use a smaller hidden_size or output_size")
        self.mode = check.choice(owner, "mode", mode, MODES)
        init = check.choice(owner, "init", init, ("default", "orthogonal"))
        if self.mode == "one_to_many":
            self.steps = check.integer(owner, "steps", steps, minimum=1) if steps is not None else None
            if self.steps is None:
                raise ValueError(f"{owner}: mode 'one_to_many' needs 'steps', the output length")
        self.cell, self.bidirectional = cell, check.flag(owner, "bidirectional", bidirectional)
        self.input_size, self.hidden_size = input_size, hidden_size
        with torch.random.fork_rng(devices=[], enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(check.seed(owner, seed))
            self.core = make_recurrent(cell, input_size, hidden_size, layers, dropout=dropout,
                                       bidirectional=bidirectional, **(spiking_options or {}))
            self.readout = nn.Linear(hidden_size * (2 if bidirectional else 1), output_size)
            if init == "orthogonal":
                orthogonal_init(self.core)
            if cell == "lstm":
                set_forget_bias(self.core, check.real(owner, "forget_bias", forget_bias))

    @property
    def spiking(self) -> bool:
        """Whether the core is spiking (``cell`` ``"spiking_rnn"`` or ``"spiking_lstm"``)."""
        return self.cell in SPIKING_CELLS

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (T, B, input_size), or (B, input_size) in ``"one_to_many"`` -> (B, output_size) in
        ``"many_to_one"``, else (T or ``steps``, B, output_size); see the class docstring. The core starts
        from zeros."""
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
        if self.spiking and self.core.readout == "spikes":
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
