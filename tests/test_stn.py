"""Spatial transformers and the distorted-digit data."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from neuroai.data.distortions import (DISTORTIONS, distort, projective, rotate, rotate_translate_scale,
                                      translated_cluttered)
from neuroai.models.stn import TRANSFORMS, SpatialTransformer, STClassifier, theta_from_parameters, warp

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("size", [(8, 8), (28, 28)])
def test_an_untrained_transformer_returns_its_input(transform, size):
    st = SpatialTransformer(2, size, transform)
    x = torch.rand(3, 2, *size)
    torch.testing.assert_close(st(x), x, atol=1e-5, rtol=0)
    torch.testing.assert_close(st.last_theta, torch.eye(2, 3).expand(3, 2, 3))


def pattern(side=8):
    x = torch.zeros(1, 1, side, side)
    x[0, 0, 2, 5] = 1.0      # an asymmetric pattern: one bright pixel and a dimmer one
    x[0, 0, 6, 1] = 0.5
    return x


def test_a_translation_moves_the_pattern_by_whole_pixels():
    x = pattern()
    # output(u) = input(u + t): t = +2 pixels along x (2 * 2 / 8 in normalized units) moves content left by 2
    moved = warp(x, torch.tensor([[[1.0, 0.0, 0.5], [0.0, 1.0, 0.0]]]))
    expected = torch.zeros_like(x)
    expected[0, 0, 2, 3] = 1.0
    torch.testing.assert_close(moved, expected, atol=1e-6, rtol=0)


def test_a_quarter_turn_is_rot90():
    x = pattern()
    theta = theta_from_parameters("rotation_scale_translation", torch.tensor([[math.pi / 2, 0.0, 0.0, 0.0]]))
    torch.testing.assert_close(warp(x, theta), torch.rot90(x, k=1, dims=(2, 3)), atol=1e-5, rtol=0)


def test_parameter_families():
    params = torch.tensor([[0.3, math.log(2.0), 0.1, -0.2]])
    theta = theta_from_parameters("rotation_scale_translation", params)
    c, s = 2 * math.cos(0.3), 2 * math.sin(0.3)
    torch.testing.assert_close(theta, torch.tensor([[[c, -s, 0.1], [s, c, -0.2]]]))
    theta = theta_from_parameters("attention", torch.tensor([[math.log(0.5), 0.3, 0.4]]))
    torch.testing.assert_close(theta, torch.tensor([[[0.5, 0.0, 0.3], [0.0, 0.5, 0.4]]]))
    torch.testing.assert_close(theta_from_parameters("translation", torch.tensor([[0.1, 0.2]])),
                               torch.tensor([[[1.0, 0.0, 0.1], [0.0, 1.0, 0.2]]]))


def test_gradients_reach_the_localization_network():
    st = SpatialTransformer(1, (28, 28), "affine")
    model = STClassifier(st, nn.Sequential(nn.Flatten(), nn.Linear(784, 10)))
    loss = nn.functional.cross_entropy(model(torch.rand(4, 1, 28, 28)), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    last = st.localization[-1]
    assert last.weight.grad.abs().sum() > 0 and last.bias.grad.abs().sum() > 0
    assert all(p.grad is not None for p in st.localization.parameters())


def test_the_attention_variant_crops_to_a_smaller_output():
    st = SpatialTransformer(1, (28, 28), "attention", out_size=(14, 14))
    assert st(torch.rand(2, 1, 28, 28)).shape == (2, 1, 14, 14)


def test_bad_arguments():
    with pytest.raises(ValueError, match="parameter 'transform' must be one of"):
        SpatialTransformer(1, (8, 8), "perspective")
    with pytest.raises(ValueError, match="must end in an nn.Linear with 6 outputs"):
        SpatialTransformer(1, (8, 8), localization=nn.Sequential(nn.Flatten(), nn.Linear(64, 4)))
    with pytest.raises(ValueError, match=r"expected input of shape \(B, 1, 8, 8\)"):
        SpatialTransformer(1, (8, 8))(torch.rand(2, 8, 8))
    with pytest.raises(ValueError, match=r"must have shape \(n, S, S\)"):
        rotate(np.zeros((3, 8, 6)))
    with pytest.raises(ValueError, match="parameter 'kind' must be one of"):
        distort(np.zeros((3, 8, 8)), "E")


# --- distortions -------------------------------------------------------------------------------------------

def digits(n=20, side=28):
    g = torch.Generator().manual_seed(0)
    x = torch.zeros(n, side, side)
    x[:, side // 4: 3 * side // 4, side // 2 - 2: side // 2 + 2] = torch.rand(n, 1, 1, generator=g) + 0.5
    return x.clamp(max=1)


@pytest.mark.parametrize("kind", DISTORTIONS)
def test_distortions_are_seeded_and_sized_as_in_the_paper(kind):
    x = digits()
    a, b, c = distort(x, kind, seed=1), distort(x, kind, seed=1), distort(x, kind, seed=2)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape[1:] == {"R": (28, 28), "RTS": (42, 42), "P": (28, 28), "TC": (60, 60)}[kind]
    assert a.dtype == torch.float32 and a.min() >= 0 and a.max() <= 1 + 1e-6


def test_zero_distortion_is_the_identity():
    x = digits(4)
    torch.testing.assert_close(rotate(x, max_angle=0.0), x, atol=1e-6, rtol=0)
    torch.testing.assert_close(projective(x, noise=0.0, scale=(1.0, 1.0)), x, atol=1e-5, rtol=0)


def test_rts_keeps_the_whole_digit_on_the_canvas():
    x = digits(50)
    out = rotate_translate_scale(x, seed=0, max_angle=0.0, scale=(1.0, 1.0))
    # no rotation or scaling: the digit is only moved, so its ink is all there
    torch.testing.assert_close(out.sum((1, 2)), x.sum((1, 2)), rtol=1e-4, atol=0)


def test_translated_cluttered_contains_the_digit_and_clutter():
    x = digits(30)
    clean = translated_cluttered(x, seed=0, pieces=0)
    assert torch.allclose(clean.sum((1, 2)), x.sum((1, 2)))       # pasted whole, nothing else
    cluttered = translated_cluttered(x, seed=0)
    assert cluttered.shape == (30, 60, 60) and (cluttered.sum((1, 2)) >= clean.sum((1, 2)) * 0.999).all()
