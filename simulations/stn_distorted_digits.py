"""Spatial Transformer Networks on distorted MNIST (Jaderberg et al. 2015, Table 1): FCN, CNN, ST-FCN, ST-CNN; SNN vs ST-SNN.

The protocol of the paper's distorted-MNIST experiment (its Table 1) on
MNIST-5k (:func:`neuroai.data.load_mnist5k`): a seeded, stratified split
(4,000 training and 1,000 test images), each distorted in four ways
(:mod:`neuroai.data.distortions`, the paper's settings scaled by the image
side ``S``):

- **R**: rotated by up to +-90 degrees;
- **RTS**: rotated by up to +-45 degrees, scaled by 0.7-1.2 and placed at
  random on a ``1.5 S`` canvas (42x42);
- **P**: a random projective warp;
- **TC**: placed at random on a ``60/28 S`` canvas (60x60) among six pieces
  of clutter cut from other digits.

The test set is distorted once; the training set is distorted afresh every
epoch (seeded), so every model sees the same stream of training images, in
the same order, for the same number of epochs: same data, same budget.

Models (sized for a CPU, far smaller than the paper's):

- **FCN**: two hidden ReLU layers;
- **CNN**: two conv-maxpool-ReLU stages and a linear read-out (He-initialized
  like the FCN);
- **ST-FCN**, **ST-CNN**: the same classifier behind a
  :class:`neuroai.models.SpatialTransformer` (affine by default) whose
  localization network is an FCN (two hidden ReLU layers) for ST-FCN and the
  library's default two-stage CNN for ST-CNN, as in the paper. The
  transformer samples an ``S x S`` output (28x28) from every canvas, so on
  RTS and TC it can crop and zoom. It starts at the identity and learns from
  the classification loss alone.

Spiking variant (on R and RTS): **SNN**, a surrogate-gradient spiking
classifier (:class:`neuroai.models.SpikingClassifier`: Poisson rate-coded
pixels, one hidden layer of LIF neurons, output spike counts as logits), and
**ST-SNN**, the same SNN trained behind the ST-CNN's learned transformer,
frozen. (The Poisson encoder passes no gradient to its input, so a
transformer cannot learn through the SNN itself.) Both are trained the same
way on the same stream of images; the pair measures how much a spiking
classifier gains when its input is put into a canonical pose, to set beside
the ANN pairs.

Training: Adam, batch 64, the learning rate annealed to zero on a cosine
over the run, cross-entropy. The paper gives the localization network a
lower learning rate; with Adam and this short budget a lower rate (0.1 or
0.3 of the classifier's) only slowed the transformers down, and the full
rate was stable, so ``loc_lr_scale`` defaults to 1.

``--quick``: scikit-learn's 8x8 digits (1,437 training and 360 test
images; canvases 12x12 for RTS), R and RTS only, 10 ANN and 3 SNN epochs.

Outputs: the test error table in the layout of the paper's Table 1 (rows:
models, columns: distortions, % error), test-error curves, and test inputs
(one of each class) before and after each learned transformation. The
returned metrics hold every model's test error per distortion and how far
its learned transforms are from the identity.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter
from torch import nn
from torch.nn import functional as F

from neuroai.cli import count, script_main
from neuroai.data import DISTORTIONS, distort, load_digits, load_mnist5k, train_val_test_split
from neuroai.experiments import RunRecord, markdown_table
from neuroai.models import MLP, SpatialTransformer, SpikingClassifier, STClassifier, feedforward_network
from neuroai.models.stn import TRANSFORMS, localization_network

MODELS = ("FCN", "CNN", "ST-FCN", "ST-CNN")
SPIKING = ("SNN", "ST-SNN")
STATS = ("theta distance", "scale", "rotation std (deg)")    # of the learned transforms (transform_stats)
DATASETS = {"mnist5k": load_mnist5k, "digits": load_digits}


@dataclass(frozen=True)
class Params:
    dataset: str = "mnist5k"                 # "mnist5k" (28x28) or "digits" (scikit-learn, 8x8)
    test: float = 0.2                        # fraction held out for testing (stratified, seeded)
    distortions: tuple[str, ...] = DISTORTIONS          # R, RTS, P, TC (neuroai.data.distortions)
    spiking_distortions: tuple[str, ...] = ("R", "RTS")  # where SNN and ST-SNN are trained too
    transform: str = "affine"                # family of every spatial transformer (neuroai.models.stn)
    epochs: int = 20                         # ANN epochs, each over freshly distorted training images
    batch: int = 64
    lr: float = 3e-3                         # Adam, cosine-annealed to 0 over the run
    loc_lr_scale: float = 1.0                # localization networks learn at lr * loc_lr_scale
    hidden: int = 256                        # FCN: two hidden ReLU layers of this width
    channels: tuple[int, int] = (16, 32)     # CNN: channels of its two conv-pool stages
    loc_hidden: int = 32                     # localization networks' hidden width
    snn_epochs: int = 8                      # SNN and ST-SNN epochs (the same stream of training images)
    snn_lr: float = 5e-3                     # Adam, cosine-annealed
    snn_hidden: int = 128                    # one hidden layer of LIF neurons
    snn_steps: int = 25                      # 1 ms steps of Poisson input per image


QUICK = dict(dataset="digits", distortions=("R", "RTS"), epochs=10, snn_epochs=3)


def add_arguments(parser) -> None:
    parser.add_argument("--epochs", type=count, default=None, help="ANN epochs (default 20)")
    parser.add_argument("--snn-epochs", type=count, default=None, help="SNN epochs (default 8)")
    parser.add_argument("--transform", choices=tuple(TRANSFORMS), default=None,
                        help="transformation family of the spatial transformers (default affine)")


# --- data -------------------------------------------------------------------------------------------------

def _seed(*keys: int) -> int:
    """A 32-bit seed derived from ``keys`` (independent streams for independent uses)."""
    return int(np.random.SeedSequence(list(keys)).generate_state(1)[0])


@dataclass(frozen=True, eq=False)
class DistortedDigits:
    """One distortion of the split: test images distorted once, training images afresh each epoch.

    ``train_images`` (n, S, S) are the undistorted training digits; ``test_images``
    (m, 1, C, C) the distorted test set on its ``C x C`` canvas.
    """

    kind: str
    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    seed: int

    @classmethod
    def make(cls, kind: str, split: dict, seed: int) -> DistortedDigits:
        (x, y), (x_test, y_test) = split["train"], split["test"]
        test = distort(x_test, kind, seed=_seed(seed, DISTORTIONS.index(kind), 0)).unsqueeze(1)
        return cls(kind, x, y, test, y_test, seed)

    @property
    def examples(self) -> torch.Tensor:
        """Index of the first test image of each class (n_classes,)."""
        classes = torch.unique(self.test_labels)
        return (self.test_labels.unsqueeze(0) == classes.unsqueeze(1)).int().argmax(1)

    @property
    def side(self) -> int:
        """The digits' side ``S``."""
        return self.train_images.shape[-1]

    @property
    def canvas(self) -> int:
        """The distorted images' side ``C``."""
        return self.test_images.shape[-1]

    def training_set(self, epoch: int) -> torch.Tensor:
        """Epoch ``epoch``'s training images (n, 1, C, C), each with a fresh random distortion."""
        return distort(self.train_images, self.kind, seed=_seed(self.seed, DISTORTIONS.index(self.kind),
                                                                1 + epoch)).unsqueeze(1)


def load_split(p: Params, seed: int) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """``{"train": (x, y), "test": (x, y)}``: images (n, S, S) in [0, 1], labels (n,), split seeded."""
    images, labels = DATASETS[p.dataset]()
    split = train_val_test_split(labels, 0.0, p.test, seed=seed)
    x, y = torch.from_numpy(images), torch.from_numpy(labels)
    return {"train": (x[split.train], y[split.train]), "test": (x[split.test], y[split.test])}


# --- models -----------------------------------------------------------------------------------------------

def fcn(side: int, p: Params) -> nn.Module:
    """``side^2 -> hidden -> hidden -> 10``, ReLU."""
    return MLP([side * side, p.hidden, p.hidden, 10])


def cnn(side: int, p: Params) -> nn.Sequential:
    """Two conv-maxpool(2)-ReLU stages (5x5 kernels, 3x3 below 20 pixels; same padding) and a linear
    read-out: ``(B, 1, side, side) -> (B, 10)``. Initialized as the FCN (He normal, zero biases):
    with PyTorch's default initialization, smaller, the CNN on TC stayed at chance (loss ln 10)
    for all 20 epochs."""
    k = 5 if side >= 20 else 3
    c1, c2 = p.channels
    net = nn.Sequential(nn.Conv2d(1, c1, k, padding=k // 2), nn.MaxPool2d(2), nn.ReLU(),
                        nn.Conv2d(c1, c2, k, padding=k // 2), nn.MaxPool2d(2), nn.ReLU(),
                        nn.Flatten(), nn.Linear(c2 * (side // 4) ** 2, 10))
    for layer in net:
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu" if isinstance(layer, nn.Conv2d) else "linear")
            nn.init.zeros_(layer.bias)
    return net


def transformer(canvas: int, side: int, localization: str, p: Params) -> SpatialTransformer:
    """A spatial transformer ``(B, 1, canvas, canvas) -> (B, 1, side, side)`` whose localization
    network is an FCN (two hidden ReLU layers) or the default CNN."""
    k = TRANSFORMS[p.transform]
    if localization == "fcn":
        net = nn.Sequential(nn.Flatten(), nn.Linear(canvas * canvas, p.loc_hidden), nn.ReLU(),
                            nn.Linear(p.loc_hidden, p.loc_hidden), nn.ReLU(), nn.Linear(p.loc_hidden, k))
    else:
        net = localization_network(1, (canvas, canvas), k, p.loc_hidden)
    return SpatialTransformer(1, (canvas, canvas), p.transform, out_size=(side, side), localization=net)


def spiking(n_in: int, p: Params, seed: int) -> SpikingClassifier:
    """``n_in -> snn_hidden -> 10`` LIF neurons, Poisson input over ``snn_steps`` steps."""
    return SpikingClassifier(feedforward_network([n_in, p.snn_hidden, 10], seed=seed), p.snn_steps, seed=seed)


def frozen(module: nn.Module) -> nn.Module:
    """``module`` with its parameters fixed (no gradients)."""
    return module.requires_grad_(False)


def build(name: str, canvas: int, side: int, p: Params, seed: int,
          trained: SpatialTransformer | None = None) -> nn.Module:
    """Model ``name`` (one of :data:`MODELS` or :data:`SPIKING`) for ``canvas``-sized inputs of
    ``side``-sized digits, initialized from ``seed`` (without touching torch's global generator).
    ST-SNN takes its (frozen) transformer from ``trained``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if name == "FCN":
            return fcn(canvas, p)
        if name == "CNN":
            return cnn(canvas, p)
        if name == "SNN":
            return spiking(canvas * canvas, p, seed)
        if name == "ST-SNN":
            return STClassifier(frozen(trained), spiking(side * side, p, seed))
        localization, classifier = {"ST-FCN": ("fcn", fcn), "ST-CNN": ("cnn", cnn)}[name]
        return STClassifier(transformer(canvas, side, localization, p), classifier(side, p))


# --- training and evaluation ------------------------------------------------------------------------------

def optimizer(model: nn.Module, lr: float, p: Params) -> torch.optim.Adam:
    """Adam at ``lr``, the localization network (if any) at ``lr * loc_lr_scale``."""
    if not isinstance(model, STClassifier):
        return torch.optim.Adam(model.parameters(), lr=lr)
    groups = [{"params": list(model.classifier.parameters())}]
    localization = [q for q in model.transformer.parameters() if q.requires_grad]     # none when frozen
    if localization:
        groups.append({"params": localization, "lr": lr * p.loc_lr_scale})
    return torch.optim.Adam(groups, lr=lr)


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 500) -> float:
    """Test error (%) of ``model`` on images ``x`` (n, 1, C, C) with labels ``y`` (n,)."""
    model.eval()
    wrong = sum(int((model(xb).argmax(1) != yb).sum()) for xb, yb in zip(x.split(batch), y.split(batch)))
    return 100.0 * wrong / len(y)


def train(model: nn.Module, data: DistortedDigits, epochs: int, lr: float, p: Params, seed: int) -> list[dict]:
    """Train ``model`` on ``epochs`` freshly distorted copies of the training set; returns the
    history, one ``{"epoch", "train loss", "test error"}`` per epoch."""
    opt = optimizer(model, lr, p)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    order = torch.Generator().manual_seed(seed)
    history = []
    for epoch in range(epochs):
        x, y = data.training_set(epoch), data.train_labels
        model.train()
        total = 0.0
        for idx in torch.randperm(len(y), generator=order).split(p.batch):
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        schedule.step()
        error = evaluate(model, data.test_images, data.test_labels)
        history.append({"epoch": epoch + 1, "train loss": total / len(y), "test error": error})
    return history


def transform_stats(thetas: torch.Tensor) -> dict[str, float]:
    """How far the learned transforms ``thetas`` (n, 2, 3) are from the identity: their mean
    Frobenius distance to it, their mean linear scale ``sqrt|det A|`` (below 1: the transformer
    zooms in) and the spread (std, degrees) of their rotation angle, that of the rotation nearest
    to ``A``: ``atan2(a21 - a12, a11 + a22)``."""
    a = thetas[:, :, :2]
    angle = torch.rad2deg(torch.atan2(a[:, 1, 0] - a[:, 0, 1], a[:, 0, 0] + a[:, 1, 1]))
    return {"theta distance": float((thetas - torch.eye(2, 3)).flatten(1).norm(dim=1).mean()),
            "scale": float(torch.linalg.det(a).abs().sqrt().mean()),
            "rotation std (deg)": float(angle.std())}


def study(kind: str, data: DistortedDigits, names: tuple[str, ...], epochs: int, lr: float, p: Params,
          seed: int, trained: SpatialTransformer | None = None) -> dict[str, dict]:
    """Train and test every model of ``names`` on one distortion; returns, per model, its final test
    error, history, trainable parameter count and the model itself, and for ST models the statistics
    of the transforms it applies to the test set and its output for :attr:`DistortedDigits.examples`."""
    out = {}
    for name in names:
        model = build(name, data.canvas, data.side, p, seed, trained)
        history = train(model, data, epochs, lr, p, seed)
        r = out[name] = {"error": history[-1]["test error"], "history": history, "model": model, "examples": None,
                         "parameters": sum(q.numel() for q in model.parameters() if q.requires_grad)}
        if isinstance(model, STClassifier):
            with torch.no_grad():
                r["examples"] = model.transformer(data.test_images[data.examples]).squeeze(1)
                model.transformer(data.test_images)
            r |= transform_stats(model.transformer.last_theta)
        print(f"{kind:>3} {name:<6} test error {r['error']:5.2f}%")
    return out


# --- output -----------------------------------------------------------------------------------------------

def error_table(results: dict[str, dict[str, dict]], p: Params) -> list[dict]:
    """The paper's Table 1 layout: one row per model, one column per distortion, % test error."""
    rows = []
    for name in (*MODELS, *SPIKING):
        row = {"model": name, **{kind: results[kind][name]["error"] for kind in p.distortions
                                 if name in results[kind]}}
        if len(row) > 1:
            rows.append(row)
    return rows


def curves_figure(results: dict[str, dict[str, dict]]) -> Figure:
    """Test error against epoch, one panel per distortion, one line per model (SNNs dashed)."""
    fig = Figure(figsize=(3.4 * len(results) + 1.2, 3.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(results), sharey=True))
    colors = {name: f"C{i}" for i, name in enumerate((*MODELS, *SPIKING))}
    for ax, (kind, models) in zip(axes, results.items()):
        for name, r in models.items():
            ax.plot([h["epoch"] for h in r["history"]], [h["test error"] for h in r["history"]],
                    color=colors[name], ls="--" if name in SPIKING else "-", label=name)
        ax.set(title=kind, xlabel="epoch", yscale="log")
        ax.yaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
        ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.yaxis.set_minor_formatter(NullFormatter())
    axes[0].set_ylabel("test error (%)")
    fig.legend(*max((ax.get_legend_handles_labels() for ax in axes), key=lambda h: len(h[1])),
               loc="outside right center", frameon=False)
    return fig


def transforms_figure(results: dict[str, dict[str, dict]], data: dict[str, DistortedDigits]) -> Figure:
    """Per distortion, a row of test inputs (one of each class) and a row of what each ANN's
    transformer makes of them."""
    rows = []
    for kind in results:
        rows.append((f"{kind}\ninput", data[kind].test_images[data[kind].examples, 0]))
        rows += [(f"{kind}\n{name}", results[kind][name]["examples"]) for name in ("ST-FCN", "ST-CNN")]
    n = len(rows[0][1])
    fig = Figure(figsize=(0.9 * n + 1.0, 0.9 * len(rows)), layout="constrained")
    axes = fig.subplots(len(rows), n, squeeze=False)
    for ax_row, (label, images) in zip(axes, rows):
        for ax, image in zip(ax_row, images):
            ax.imshow(image.numpy(), cmap="gray_r", vmin=0, vmax=1)
            ax.set(xticks=[], yticks=[])
        ax_row[0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    return fig


def run(record: RunRecord, *, quick: bool = False, seed: int = 0, epochs: int | None = None,
        snn_epochs: int | None = None, transform: str | None = None, **overrides) -> dict:
    """Train and test every model on every distortion; returns the test errors (%) per
    distortion and model, the statistics of every transformer's learned transforms
    (:func:`transform_stats`) and each model's result row. ``overrides`` set any other
    field of :class:`Params`."""
    given = {k: v for k, v in dict(epochs=epochs, snn_epochs=snn_epochs, transform=transform).items()
             if v is not None}
    p = dataclasses.replace(Params(), **{**(QUICK if quick else {}), **given, **overrides})
    record.write_config({**dataclasses.asdict(p), "quick": quick}, seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)          # small models: one thread is fastest, and several fight on a busy CPU
    try:
        split = load_split(p, seed)
        data = {kind: DistortedDigits.make(kind, split, seed) for kind in p.distortions}
        results = {}
        for kind in p.distortions:
            results[kind] = study(kind, data[kind], MODELS, p.epochs, p.lr, p, seed)
            if kind in p.spiking_distortions:
                results[kind] |= study(kind, data[kind], SPIKING, p.snn_epochs, p.snn_lr, p, seed,
                                       trained=results[kind]["ST-CNN"]["model"].transformer)
    finally:
        torch.set_num_threads(threads)
    table = error_table(results, p)
    rows = [{"distortion": kind, "model": name, "test error (%)": r["error"], "epochs": len(r["history"]),
             "trainable parameters": r["parameters"], **{k: r[k] for k in STATS if k in r}}
            for kind, models in results.items() for name, r in models.items()]
    print(markdown_table(table))
    record.write_metrics([{"distortion": kind, "model": name, **h}
                          for kind, models in results.items() for name, r in models.items() for h in r["history"]])
    record.save_figure(curves_figure(results), "training_curves")
    record.save_figure(transforms_figure(results, data), "transformations")
    n_train, n_test = len(split["train"][1]), len(split["test"][1])
    record.write_summary(
        "Spatial Transformer Networks on distorted digits (Jaderberg et al. 2015, Table 1)", table,
        f"% test error. {p.dataset}: {n_train} training images (distorted afresh every epoch) and {n_test} test "
        f"images (distorted once), seed {seed}. ANNs: {p.epochs} epochs, Adam lr {p.lr} (cosine), batch "
        f"{p.batch}; localization networks at {p.loc_lr_scale} x lr; {p.transform} transformers sampling a "
        f"{split['train'][0].shape[-1]}-pixel square output. SNNs: {p.snn_hidden} LIF hidden neurons, "
        f"{p.snn_steps} steps of Poisson input, {p.snn_epochs} epochs, Adam lr {p.snn_lr}; ST-SNN: behind the "
        f"ST-CNN's trained transformer, frozen. Learned transforms: mean distance to the identity, mean linear "
        f"scale (below 1: zoom in), spread of the rotation angle.\n\n"
        + markdown_table(rows) + "\n\n![training curves](training_curves.png)\n\n"
        "![transformations](transformations.png)")
    return {"errors": {kind: {name: r["error"] for name, r in models.items()} for kind, models in results.items()},
            "transforms": {kind: {name: {k: r[k] for k in STATS} for name, r in models.items() if STATS[0] in r}
                           for kind, models in results.items()},
            "rows": rows, "n_train": n_train, "n_test": n_test}


if __name__ == "__main__":
    raise SystemExit(script_main(run))
