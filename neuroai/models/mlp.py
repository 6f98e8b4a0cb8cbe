"""A multilayer perceptron with the common regularizers as options."""
from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral

import torch
from torch import nn

from .. import validation as check

#: activation name -> (module factory, gain name for torch.nn.init.calculate_gain)
ACTIVATIONS = {
    "relu": (nn.ReLU, "relu"),
    "leaky_relu": (nn.LeakyReLU, "leaky_relu"),
    "elu": (nn.ELU, "relu"),
    "gelu": (nn.GELU, "relu"),
    "tanh": (nn.Tanh, "tanh"),
    "sigmoid": (nn.Sigmoid, "sigmoid"),
    "identity": (nn.Identity, "linear"),
}

INITS = ("kaiming", "xavier", "orthogonal", "normal", "zeros")


class MLP(nn.Module):
    """Fully connected network ``sizes[0] -> sizes[1] -> ... -> sizes[-1]``.

    The input is flattened from dimension 1 on, so images of shape
    (batch, 8, 8) feed an ``MLP([64, ...])`` directly. Each hidden layer is
    ``Linear -> [BatchNorm1d] -> activation -> [Dropout]``; the last layer
    is a plain ``Linear`` (logits).

    Parameters
    ----------
    sizes
        Layer widths, input first and output last: at least two positive integers.
    activation
        One of :data:`ACTIVATIONS`: ``"relu"``, ``"leaky_relu"``, ``"elu"``,
        ``"gelu"``, ``"tanh"``, ``"sigmoid"``, ``"identity"``.
    dropout
        Probability in [0, 1) of zeroing a hidden unit during training
        (Srivastava et al. 2014); 0 adds no dropout layer.
    batch_norm
        Normalize each hidden layer's pre-activations over the batch (Ioffe &
        Szegedy 2015); the preceding ``Linear`` then has no bias (BatchNorm's
        shift replaces it).
    init
        Weight initialization of the ``Linear`` layers (biases start at 0):
        ``"kaiming"`` (He normal, gain of the activation), ``"xavier"``
        (Glorot normal, gain of the activation), ``"orthogonal"`` (gain of
        the activation), ``"normal"`` (std 0.01) or ``"zeros"`` (every
        hidden unit identical: shows why symmetry must be broken).
    seed
        Seed of the ``torch.Generator`` the initialization draws from; None
        draws from torch's global generator.
    bias
        Give the ``Linear`` layers biases (default). ``False``: no ``Linear``
        layer has one (batch norm's shift, when on, remains), as in the rate
        twin of a spiking network, whose projections have none (see
        :mod:`neuroai.conversion`).
    """

    def __init__(self, sizes: Sequence[int], activation: str = "relu", dropout: float = 0.0,
                 batch_norm: bool = False, init: str = "kaiming", seed: int | None = None,
                 bias: bool = True):
        super().__init__()
        if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence):
            raise TypeError(f"MLP: parameter 'sizes' must be a sequence of layer widths such as [64, 128, 10], "
                            f"got {sizes!r}")
        if len(sizes) < 2:
            raise ValueError(f"MLP: parameter 'sizes' must hold at least an input and an output width, "
                             f"got {list(sizes)}")
        for s in sizes:
            if isinstance(s, bool) or not isinstance(s, Integral) or s < 1:
                raise ValueError(f"MLP: parameter 'sizes' must hold positive integers, got {list(sizes)}")
        self.sizes = tuple(int(s) for s in sizes)
        weights = sum(a * b + b for a, b in zip(self.sizes[:-1], self.sizes[1:]))
        check.memory("MLP", 8.0 * weights, f"{weights} parameters", "use narrower layers")
        self.activation = check.choice("MLP", "activation", activation, tuple(ACTIVATIONS))
        self.dropout = check.real("MLP", "dropout", dropout, nonnegative=True)
        if self.dropout >= 1.0:
            raise ValueError(f"MLP: parameter 'dropout' must be in [0, 1), got {dropout!r}")
        self.batch_norm = check.flag("MLP", "batch_norm", batch_norm)
        self.bias = check.flag("MLP", "bias", bias)
        self.init = check.choice("MLP", "init", init, INITS)
        self.seed = None if seed is None else check.seed("MLP", seed)

        make_act, gain_name = ACTIVATIONS[activation]
        layers: list[nn.Module] = []
        for n_in, n_out in zip(self.sizes[:-2], self.sizes[1:-1]):
            layers.append(nn.Linear(n_in, n_out, bias=bias and not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm1d(n_out))
            layers.append(make_act())
            if self.dropout > 0:
                layers.append(nn.Dropout(self.dropout))
        layers.append(nn.Linear(self.sizes[-2], self.sizes[-1], bias=bias))
        self.layers = nn.Sequential(*layers)
        self.reset_parameters(gain_name)

    def reset_parameters(self, _gain_name: str | None = None) -> None:
        """(Re-)initialize every layer as ``init`` and ``seed`` say."""
        gain_name = _gain_name or ACTIVATIONS[self.activation][1]
        g = None if self.seed is None else torch.Generator().manual_seed(self.seed)
        linears = [m for m in self.layers if isinstance(m, nn.Linear)]
        with torch.no_grad():
            for i, layer in enumerate(linears):
                nonlinearity = gain_name if i < len(linears) - 1 else "linear"
                w = layer.weight
                if self.init == "kaiming":
                    nn.init.kaiming_normal_(w, nonlinearity=nonlinearity, generator=g)
                elif self.init == "xavier":
                    nn.init.xavier_normal_(w, gain=nn.init.calculate_gain(nonlinearity), generator=g)
                elif self.init == "orthogonal":
                    nn.init.orthogonal_(w, gain=nn.init.calculate_gain(nonlinearity), generator=g)
                elif self.init == "normal":
                    nn.init.normal_(w, 0.0, 0.01, generator=g)
                else:
                    nn.init.zeros_(w)
                if layer.bias is not None:
                    nn.init.zeros_(layer.bias)
            for m in self.layers:
                if isinstance(m, nn.BatchNorm1d):
                    m.reset_parameters()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (batch, sizes[0]), or any (batch, ...) that flattens to it -> logits (batch, sizes[-1])."""
        x = x.flatten(1) if x.dim() > 2 else x
        if x.dim() != 2 or x.shape[1] != self.sizes[0]:
            raise ValueError(f"MLP: expected inputs of shape (batch, {self.sizes[0]}) (or any shape that "
                             f"flattens to it), got {tuple(x.shape)}")
        return self.layers(x)

    def extra_repr(self) -> str:
        """The constructor's settings, for ``repr``."""
        return (f"sizes={list(self.sizes)}, activation={self.activation!r}, dropout={self.dropout}, "
                f"batch_norm={self.batch_norm}, init={self.init!r}, seed={self.seed}, bias={self.bias}")
