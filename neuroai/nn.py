"""Layers that compose into a Network, as snnTorch users compose ``nn.Sequential``.

:class:`Sequential` takes weight layers (:class:`Linear`, :class:`Conv2d`),
each followed by a neuron layer (:class:`Leaky`), and builds the
:class:`neuroai.Network` they describe: an input ``"input"``, one population
per neuron layer (``"layer1"``, ``"layer2"``, ...) and one all-to-all or
convolutional projection per weight layer. It is an ``nn.Module`` that
trains through the torch backend's engine (layer by layer, surrogate
gradients), and :meth:`Sequential.to_network` returns the trained Network
for any backend, Brian2 included::

    model = neuroai.nn.Sequential(neuroai.nn.Linear(784, 256), neuroai.nn.Leaky(),
                                  neuroai.nn.Linear(256, 10), neuroai.nn.Leaky(learn_tau=True))
    counts = model(spikes).sum(0)            # spikes: (time, batch, 784) -> (time, batch, 10)
    brian = neuroai.Simulator(model.to_network(), "brian2")

A convolution shares its kernel over positions while it trains; in the
Network it becomes an explicit projection whose synapses carry the kernel's
weights, one per (input position, output position) pair, and each population
is the flattened (channels, height, width) map.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from . import validation as check
from .backends.torch import TorchNetwork
from .coding import PoissonRate
from .network import Network
from .neurons import LIF
from .synapses import Explicit, Normal


def _positive(owner: str, name: str, value) -> int:
    return check.integer(owner, name, value, minimum=1)


@dataclass(frozen=True)
class Linear:
    """All-to-all synapses from ``in_features`` to ``out_features`` neurons, weights drawn from
    ``Normal(0, gain / sqrt(in_features))`` (dimensionless: a spike adds its weight to ``v``)."""

    in_features: int
    out_features: int
    gain: float = 1.0

    def __post_init__(self):
        _positive("Linear", "in_features", self.in_features)
        _positive("Linear", "out_features", self.out_features)
        check.real("Linear", "gain", self.gain, positive=True)

    def out_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The output shape for an input of ``shape`` (any shape of ``in_features`` elements)."""
        if int(np.prod(shape)) != self.in_features:
            raise ValueError(f"Linear: in_features is {self.in_features}, but its input has shape {shape} "
                             f"({int(np.prod(shape))} neurons)")
        return (self.out_features,)


@dataclass(frozen=True)
class Conv2d:
    """A 2-d convolution (cross-correlation, as ``torch.nn.Conv2d``, no bias) of ``in_channels`` maps to
    ``out_channels`` maps; kernel weights drawn from ``Normal(0, gain / sqrt(in_channels * kh * kw))``."""

    in_channels: int
    out_channels: int
    kernel_size: int | tuple[int, int]
    stride: int = 1
    padding: int = 0
    gain: float = 1.0

    def __post_init__(self):
        for name in ("in_channels", "out_channels", "stride"):
            _positive("Conv2d", name, getattr(self, name))
        check.integer("Conv2d", "padding", self.padding, minimum=0)
        check.real("Conv2d", "gain", self.gain, positive=True)
        size = self.kernel_size if isinstance(self.kernel_size, tuple) else (self.kernel_size, self.kernel_size)
        if len(size) != 2:
            raise ValueError(f"Conv2d: parameter 'kernel_size' must be an int or a pair of ints, got "
                             f"{self.kernel_size!r}")
        object.__setattr__(self, "kernel_size", tuple(_positive("Conv2d", "kernel_size", k) for k in size))

    def out_shape(self, shape: tuple[int, ...]) -> tuple[int, int, int]:
        """(out_channels, height, width) for an input of ``shape`` (in_channels, height, width)."""
        if len(shape) != 3 or shape[0] != self.in_channels:
            raise ValueError(f"Conv2d: its input must have shape ({self.in_channels}, height, width), got {shape}; "
                             f"give Sequential an input_shape (channels, height, width)")
        (kh, kw), s, p = self.kernel_size, self.stride, self.padding
        h, w = (shape[1] + 2 * p - kh) // s + 1, (shape[2] + 2 * p - kw) // s + 1
        if h < 1 or w < 1:
            raise ValueError(f"Conv2d: a {kh}x{kw} kernel does not fit an input of {shape[1]}x{shape[2]} "
                             f"with padding {p}")
        return (self.out_channels, h, w)

    def synapses(self, shape: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(pre, post, kernel index) of every synapse, for an input of ``shape``: flat indices of the input
        and output maps (channel, row, column) and of the kernel (out channel, in channel, row, column)."""
        c_in, h_in, w_in = shape
        c_out, h, w = self.out_shape(shape)
        (kh, kw), s, p = self.kernel_size, self.stride, self.padding
        co, ci, y, x, ky, kx = np.meshgrid(np.arange(c_out), np.arange(c_in), np.arange(h), np.arange(w),
                                           np.arange(kh), np.arange(kw), indexing="ij")
        iy, ix = y * s + ky - p, x * s + kx - p
        inside = (iy >= 0) & (iy < h_in) & (ix >= 0) & (ix < w_in)
        pre = ((ci * h_in + iy) * w_in + ix)[inside]
        post = ((co * h + y) * w + x)[inside]
        kernel = (((co * c_in + ci) * kh + ky) * kw + kx)[inside]
        return pre, post, kernel


@dataclass(frozen=True)
class Leaky:
    """A layer of leaky integrate-and-fire neurons (neuroai's LIF, dimensionless, threshold ``v_th``, reset by
    subtraction or to 0; snnTorch calls it ``Leaky``), with a fixed membrane time constant ``tau_m`` (s), or
    one that trains with the weights (``learn_tau``)."""

    tau_m: float = 20e-3
    v_th: float = 1.0
    reset: str = "subtract"
    learn_tau: bool = False

    def __post_init__(self):
        check.flag("Leaky", "learn_tau", self.learn_tau)

    def model(self) -> LIF:
        """The neuroai neuron model of this layer."""
        return LIF(tau_m=self.tau_m, v_th=self.v_th, reset=self.reset)


class Sequential(torch.nn.Module):
    """Weight layers, each followed by a neuron layer, as one trainable spiking network.

    input_shape: the input's shape (``in_features`` of a first :class:`Linear`
    by default; (channels, height, width) before a :class:`Conv2d`).
    dt: the time step (s). encoder: the input's encoder in the Network (default
    ``PoissonRate(500 Hz)``; ``forward`` takes spikes already). seed: of the
    weight initialization. dtype, device: as for
    :class:`~neuroai.backends.torch.TorchNetwork`.
    """

    def __init__(self, *layers, input_shape=None, dt: float = 1e-3, encoder=None, seed: int = 0,
                 dtype="float32", device=None):
        super().__init__()
        owner = "Sequential"
        if len(layers) < 2 or len(layers) % 2:
            raise ValueError(f"{owner}: layers must alternate a weight layer (Linear, Conv2d) and a neuron layer "
                             f"(Leaky), starting with a weight layer; got {len(layers)} layers")
        for k, layer in enumerate(layers):
            kinds = (Linear, Conv2d) if k % 2 == 0 else (Leaky,)
            if not isinstance(layer, kinds):
                raise TypeError(f"{owner}: layer {k} must be a {' or '.join(c.__name__ for c in kinds)} (layers "
                                f"alternate weight and neuron layers), got {type(layer).__name__}")
        self.layers = layers
        first = layers[0]
        if input_shape is None:
            if isinstance(first, Conv2d):
                raise ValueError(f"{owner}: a first Conv2d needs input_shape=(channels, height, width)")
            input_shape = (first.in_features,)
        self.input_shape = tuple(int(s) for s in np.atleast_1d(input_shape))
        self.seed = check.seed(owner, seed)
        self._convolutions = {}   # projection name -> (pre, post, kernel index) arrays
        network = self._describe(dt, encoder)
        names = [f"layer{k}" for k in range(1, len(layers) // 2 + 1)]
        learn = tuple(name for name, neuron in zip(names, layers[1::2]) if neuron.learn_tau)
        self.net = TorchNetwork(network, dtype=dtype, device=device, learn_tau_m=learn)
        self.kernels = torch.nn.ParameterDict()
        for name, (pre, post, kernel) in self._convolutions.items():
            self.net.weights[name].requires_grad_(False)   # the kernel trains; the dense matrix follows it
            values = torch.as_tensor(network.projections[name].weights, dtype=self.net.dtype, device=self.net.device)
            flat = torch.zeros(int(kernel.max()) + 1, dtype=self.net.dtype, device=self.net.device)
            self.kernels[name] = torch.nn.Parameter(flat.index_put((torch.as_tensor(kernel),), values))
            for part, index in (("pre", pre), ("post", post), ("kernel", kernel)):
                self.register_buffer(f"{part}__{name}", torch.as_tensor(index, device=self.net.device),
                                     persistent=False)

    def _describe(self, dt: float, encoder) -> Network:
        """The Network of the layers, weights drawn from ``self.seed``."""
        net = Network(dt=dt)
        shape = self.input_shape
        net.add_input("input", int(np.prod(shape)), PoissonRate(max_rate=500.0) if encoder is None else encoder)
        seeds = np.random.SeedSequence(self.seed).generate_state(len(self.layers) // 2)
        pre = "input"
        for k, (weights, neuron) in enumerate(zip(self.layers[::2], self.layers[1::2])):
            name, out = f"layer{k + 1}", weights.out_shape(shape)
            net.add_population(name, int(np.prod(out)), neuron.model())
            projection = f"{pre}_to_{name}"
            if isinstance(weights, Linear):
                net.connect(pre, name, weight=Normal(0.0, weights.gain / np.sqrt(weights.in_features),
                                                     seed=int(seeds[k])), name=projection)
            else:
                synapses = weights.synapses(shape)
                (kh, kw), n_kernel = weights.kernel_size, weights.out_channels * weights.in_channels
                kernel = np.random.default_rng(int(seeds[k])).normal(
                    0.0, weights.gain / np.sqrt(weights.in_channels * kh * kw), n_kernel * kh * kw)
                mask, dense = np.zeros((int(np.prod(shape)), int(np.prod(out))), bool), None
                mask[synapses[0], synapses[1]] = True
                dense = np.zeros(mask.shape)
                dense[synapses[0], synapses[1]] = kernel[synapses[2]]
                net.connect(pre, name, Explicit(mask), weight=dense, name=projection)
                self._convolutions[projection] = synapses
            net.monitor(name)
            pre, shape = name, out
        return net

    @property
    def network(self) -> "Network":
        """The Network as built (initial weights); :meth:`to_network` has the trained one."""
        return self.net.network

    def _kernel_weights(self) -> dict[str, torch.Tensor]:
        """Each convolution's dense (n_pre, n_post) weight, its synapses taking their kernel's values."""
        out = {}
        for name, kernel in self.kernels.items():
            pre, post, index = (getattr(self, f"{part}__{name}") for part in ("pre", "post", "kernel"))
            proj = self.network.projections[name]
            shape = (self.network.size(proj.pre), self.network.size(proj.post))
            out[name] = kernel.new_zeros(shape).index_put((pre, post), kernel[index])
        return out

    def forward(self, spikes: torch.Tensor) -> torch.Tensor:
        """Input spikes ``(time, batch) + input_shape`` -> the last layer's spikes (time, batch, n_out)."""
        if not isinstance(spikes, torch.Tensor) or spikes.dim() < 3 or tuple(spikes.shape[2:]) not in (
                self.input_shape, (int(np.prod(self.input_shape)),)):
            got = tuple(spikes.shape) if isinstance(spikes, torch.Tensor) else type(spikes).__name__
            raise ValueError(f"Sequential: input spikes must have shape (time, batch, *{self.input_shape}), "
                             f"got {got}")
        flat = spikes.flatten(2)
        last = f"layer{len(self.layers) // 2}"
        return self.net({"input": flat}, record=(last,), weights=self._kernel_weights()).spikes[last]

    def to_network(self) -> Network:
        """The trained Network (weights, convolutions' kernels spread over their synapses, learned time
        constants), ready for any backend."""
        net = self.net.to_network()
        kernels = {}
        for name, kernel in self.kernels.items():
            proj = net.projections[name]
            dense = self._kernel_weights()[name].detach().cpu().double().numpy()
            kernels[name] = dense[proj.pre_idx, proj.post_idx]
        return net.with_weights(kernels)
