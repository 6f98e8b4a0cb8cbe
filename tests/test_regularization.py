"""neuroai.models.MLP and neuroai.training.regularization: each regularizer's effect
compared with the same seeded training without it (digits, 300 training images)."""
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from neuroai.data import AddNoise, RandomAffine, load_digits, train_val_test_split
from neuroai.models import MLP
from neuroai.training import Trainer
from neuroai.training.regularization import (Augmented, RegularizedLoss, l1_penalty, l2_penalty,
                                             penalized_parameters)

CE = nn.CrossEntropyLoss()


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def digits():
    images, labels = load_digits()
    x, y = torch.tensor(images), torch.tensor(labels)
    split = train_val_test_split(labels, 0.0, 0.3, seed=0)
    train, test = torch.tensor(split.train[:300]), torch.tensor(split.test)
    return x[train], y[train], x[test], y[test]


def loaders(digits, batch_size=32):
    xtr, ytr, xte, yte = digits
    train = DataLoader(TensorDataset(xtr, ytr), batch_size=batch_size, shuffle=True,
                       generator=torch.Generator().manual_seed(0))
    return train, DataLoader(TensorDataset(xte, yte), batch_size=512)


def fit(model, digits, loss=None, optimizer=None, epochs=30, wrap=None):
    train, test = loaders(digits)
    optimizer = optimizer or torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    trainer = Trainer(model, loss or nn.CrossEntropyLoss(), optimizer, metrics=["accuracy"], seed=0,
                      progress=False, device="cpu")
    return trainer.fit(wrap(train) if wrap else train, test, epochs=epochs)


@torch.no_grad()
def evaluate(model, x, y):
    """(loss, accuracy, mean max softmax probability) in eval mode."""
    model.eval()
    out = model(x)
    return CE(out, y).item(), (out.argmax(1) == y).float().mean().item(), out.softmax(1).max(1).values.mean().item()


def weights(model):
    return [m.weight for m in model.modules() if isinstance(m, nn.Linear)]


# ------------------------------------------------------------------ MLP
def test_mlp_structure_and_seeded_init():
    a, b = MLP([64, 32, 16, 10], dropout=0.5, batch_norm=True, seed=3), MLP([64, 32, 16, 10], dropout=0.5,
                                                                         batch_norm=True, seed=3)
    kinds = [type(m).__name__ for m in a.layers]
    assert kinds == ["Linear", "BatchNorm1d", "ReLU", "Dropout"] * 2 + ["Linear"]
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a.layers[0].weight, MLP([64, 32, 16, 10], seed=4).layers[0].weight)
    assert a(torch.rand(5, 8, 8)).shape == (5, 10)          # images are flattened
    for init in ("kaiming", "xavier", "orthogonal", "normal", "zeros"):
        w = MLP([64, 32, 10], init=init, seed=0).layers[0].weight
        assert (w.abs().sum() == 0) == (init == "zeros")
    w = MLP([64, 64, 10], init="orthogonal", seed=0).layers[0].weight
    gain = nn.init.calculate_gain("relu")
    assert torch.allclose(w @ w.T, gain ** 2 * torch.eye(64), atol=1e-4)


def test_mlp_without_bias_has_no_bias_anywhere():
    model = MLP([64, 32, 16, 10], bias=False, seed=0)
    linears = [m for m in model.layers if isinstance(m, nn.Linear)]
    assert len(linears) == 3 and all(m.bias is None for m in linears)
    assert [n for n, _ in model.named_parameters()] == ["layers.0.weight", "layers.2.weight", "layers.4.weight"]
    assert torch.equal(model(torch.zeros(2, 64)), torch.zeros(2, 10))  # no bias: zero in, zero out
    with_bias = MLP([64, 32, 16, 10], seed=0)
    assert all(m.bias is not None for m in with_bias.layers if isinstance(m, nn.Linear))
    assert all(torch.equal(a.weight, b.weight) for a, b in zip(linears, with_bias.layers[::2]))
    assert "bias=False" in repr(model)
    bn = MLP([64, 32, 10], batch_norm=True, bias=False)
    assert all(m.bias is None for m in bn.layers if isinstance(m, nn.Linear))


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(sizes=[64]), ValueError, "at least"),
    (dict(sizes=[64, 0, 10]), ValueError, "positive integers"),
    (dict(sizes=[64, 2.5, 10]), ValueError, "positive integers"),
    (dict(sizes="64"), TypeError, "sequence"),
    (dict(sizes=[64, 10], activation="swishy"), ValueError, "activation"),
    (dict(sizes=[64, 10], init="he"), ValueError, "init"),
    (dict(sizes=[64, 10], dropout=1.0), ValueError, "dropout"),
    (dict(sizes=[64, 10], dropout=-0.1), ValueError, "dropout"),
    (dict(sizes=[64, 10], batch_norm="yes"), TypeError, "batch_norm"),
    (dict(sizes=[64, 10], seed=-1), ValueError, "seed"),
    (dict(sizes=[64, 10], bias="no"), TypeError, "'bias' must be True or False"),
])
def test_mlp_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        MLP(**kwargs)


def test_mlp_bad_input_shape():
    with pytest.raises(ValueError, match=r"\(batch, 64\)"):
        MLP([64, 10])(torch.zeros(3, 7, 7))


# ------------------------------------------------------------------ penalties
def test_penalties_skip_biases_and_norm_parameters():
    model = MLP([4, 3, 2], batch_norm=True, seed=0)
    params = penalized_parameters(model)
    assert [tuple(p.shape) for p in params] == [(3, 4), (2, 3)]
    assert len(penalized_parameters(model, include_all=True)) == len(list(model.parameters()))
    expected_l1 = sum(p.abs().sum() for p in params)
    assert torch.allclose(l1_penalty(model, 0.3), 0.3 * expected_l1)
    assert torch.allclose(l2_penalty(model, 0.3), 0.15 * sum(p.pow(2).sum() for p in params))


def test_l2_penalty_gradient_equals_sgd_weight_decay():
    x, y = torch.rand(16, 64), torch.randint(0, 10, (16,))
    a, b = MLP([64, 32, 10], seed=0), MLP([64, 32, 10], seed=0)
    opt_a = torch.optim.SGD(a.parameters(), lr=0.1)
    # weight decay on weights only, as the penalty does
    opt_b = torch.optim.SGD([{"params": weights(b), "weight_decay": 0.01},
                             {"params": [p for n, p in b.named_parameters() if n.endswith("bias")]}], lr=0.1)
    RegularizedLoss(CE, a, l2=0.01)(a(x), y).backward()
    CE(b(x), y).backward()
    opt_a.step()
    opt_b.step()
    assert all(torch.allclose(p, q, atol=1e-6) for p, q in zip(a.parameters(), b.parameters()))


@pytest.mark.parametrize("call, match", [
    (lambda m: l1_penalty(m, -0.1), "weight"),
    (lambda m: l2_penalty(m, -1e-3), "weight"),
    (lambda m: RegularizedLoss(CE, m, l1=-1.0), "l1"),
    (lambda m: RegularizedLoss(CE, m, l2=-1.0), "l2"),
])
def test_negative_penalty_weights_fail(call, match):
    with pytest.raises(ValueError, match=match):
        call(MLP([4, 2], seed=0))


def test_bad_penalty_arguments():
    with pytest.raises(TypeError, match="model"):
        l2_penalty(nn.Linear(2, 2).weight, 0.1)
    with pytest.raises(TypeError, match="loss_fn"):
        RegularizedLoss("ce", MLP([4, 2]))
    with pytest.raises(TypeError, match="real number"):
        RegularizedLoss(CE, MLP([4, 2]), l2="1e-3")


def test_regularized_loss_adds_penalty_and_registers_no_parameters():
    model = MLP([64, 10], seed=0)
    loss = RegularizedLoss(CE, model, l1=1e-3, l2=1e-2)
    assert list(loss.parameters()) == []
    x, y = torch.rand(8, 64), torch.randint(0, 10, (8,))
    total = loss(model(x), y)
    assert torch.allclose(total, CE(model(x), y) + l1_penalty(model, 1e-3) + l2_penalty(model, 1e-2))
    assert torch.allclose(loss.last_base_loss + loss.last_penalty, total.detach())


# ------------------------------------------------------------------ effects
def test_l2_shrinks_weights(digits):
    norms = {}
    for l2 in (0.0, 1e-2):
        model = MLP([64, 128, 10], seed=0)
        fit(model, digits, RegularizedLoss(CE, model, l2=l2))
        norms[l2] = torch.sqrt(sum(w.pow(2).sum() for w in weights(model))).item()
    # the optimizer's weight_decay does the same
    model = MLP([64, 128, 10], seed=0)
    fit(model, digits, optimizer=torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-2))
    decayed = torch.sqrt(sum(w.pow(2).sum() for w in weights(model))).item()
    assert norms[1e-2] < 0.6 * norms[0.0]          # measured ~8.3 vs ~20.4
    assert decayed < 0.6 * norms[0.0]


def test_l1_makes_weights_sparse(digits):
    near_zero = {}
    for l1 in (0.0, 1e-3):
        model = MLP([64, 128, 10], seed=0)
        fit(model, digits, RegularizedLoss(CE, model, l1=l1))
        near_zero[l1] = (model.layers[0].weight.abs() < 1e-2).float().mean().item()
    assert near_zero[1e-3] > 0.5 > 4 * near_zero[0.0]   # measured ~0.81 vs ~0.04


def test_dropout_loosens_the_fit_to_the_training_set(digits):
    xtr, ytr, xte, yte = digits
    results = {}
    for p in (0.0, 0.5):
        model = MLP([64, 256, 256, 10], dropout=p, seed=0)
        history = fit(model, digits)
        results[p] = history[-1], evaluate(model, xtr, ytr), evaluate(model, xte, yte)
    (h0, train0, test0), (h5, train5, test5) = results[0.0], results[0.5]
    assert train0[0] < 1e-2 and h0["accuracy"] == 1.0      # without dropout the net memorizes
    assert h5["loss"] > 10 * h0["loss"]                      # training loss with units dropped
    assert h5["accuracy"] < h0["accuracy"]
    assert train5[0] > 10 * train0[0]                        # even in eval mode: less memorization
    assert test5[1] > 0.8                                    # but it still learns the task


def test_batch_norm_speeds_up_a_deep_sigmoid_net(digits):
    losses = {}
    for bn in (False, True):
        model = MLP([64] + [64] * 8 + [10], activation="sigmoid", init="xavier", batch_norm=bn, seed=0)
        history = fit(model, digits, optimizer=torch.optim.SGD(model.parameters(), lr=0.5), epochs=2)
        losses[bn] = [row["loss"] for row in history]
    assert losses[False][-1] > 2.2                 # the plain net stalls near log(10) = 2.30
    assert losses[True][-1] < 1.5                  # measured ~1.05 after 2 epochs
    assert losses[True][0] < losses[False][0] - 0.4


def test_label_smoothing_lowers_confidence(digits):
    _, _, xte, yte = digits
    confidence, accuracy = {}, {}
    for smoothing in (0.0, 0.2):
        model = MLP([64, 128, 10], seed=0)
        fit(model, digits, nn.CrossEntropyLoss(label_smoothing=smoothing), epochs=20)
        _, accuracy[smoothing], confidence[smoothing] = evaluate(model, xte, yte)
    assert confidence[0.0] > 0.9 and confidence[0.2] < 0.8   # measured ~0.94 vs ~0.67
    assert abs(accuracy[0.2] - accuracy[0.0]) < 0.05


def test_augmentation_changes_training_batches_only(digits):
    xtr, _, xte, _ = digits
    seen = {"train": [], "eval": []}
    model = MLP([64, 32, 10], seed=0)
    model.register_forward_pre_hook(
        lambda m, args: seen["train" if m.training else "eval"].append(args[0].detach().clone()))
    augment = Augmented(loaders(digits)[0], RandomAffine(degrees=15, translate=0.1,
                                                         generator=torch.Generator().manual_seed(1)))
    assert len(augment) == len(loaders(digits)[0])
    fit(model, digits, epochs=2, wrap=lambda train: augment)
    train_inputs = torch.cat(seen["train"])
    assert train_inputs.shape == (2 * len(xtr), 8, 8)
    # no augmented training image equals an original one; evaluation sees the originals untouched
    distance = torch.cdist(train_inputs.flatten(1), xtr.flatten(1)).min(dim=1).values
    assert (distance > 1e-3).all()
    assert torch.equal(torch.cat(seen["eval"]), torch.cat([xte, xte]))   # 2 epochs of evaluation


def test_augmentation_is_seeded_by_the_trainer(digits):
    histories = []
    for _ in range(2):
        model = MLP([64, 32, 10], seed=0)
        noise = AddNoise(std=0.2, generator=torch.Generator().manual_seed(123))
        histories.append(fit(model, digits, epochs=2, wrap=lambda train: Augmented(train, noise)))
        noise.generator.manual_seed(999)  # the Trainer reseeds it, so this does not matter
    assert histories[0] == histories[1]


def test_augmented_bad_arguments():
    with pytest.raises(TypeError, match="loader"):
        Augmented(3, lambda x: x)
    with pytest.raises(TypeError, match="transform"):
        Augmented([], "flip")
    with pytest.raises(ValueError, match="pair"):
        list(Augmented([torch.zeros(2)], lambda x: x))
