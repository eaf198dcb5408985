import copy

import torch

from core.config import Experiment
from core.data.permutation import inverse_permutation, make_permutation, permute_pixels
from core.models import MLP, SmallCNN, build_model, count_parameters


def test_permutation_is_fixed_by_its_seed_and_invertible():
    a, b, c = make_permutation(0), make_permutation(0), make_permutation(1)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(a.sort().values, torch.arange(784))
    x = torch.rand(3, 1, 28, 28)
    assert torch.equal(permute_pixels(permute_pixels(x, a), inverse_permutation(a)), x)
    assert not torch.equal(permute_pixels(x, a), x)


def test_mlp_is_exactly_invariant_to_a_permutation_of_its_first_layer():
    """Permuting the inputs and the first layer's weight columns the same way gives identical logits.

    Inputs are k/256 and weights multiples of 2**-12, computed in float64: every product and partial sum is
    exactly representable, so the result cannot depend on summation order and equality is bitwise."""
    torch.manual_seed(0)
    mlp = MLP().eval().double()
    with torch.no_grad():
        w = mlp.first_layer.weight
        w.copy_(torch.round(w * 2**12) / 2**12)
    perm = make_permutation(7)
    x = torch.randint(0, 256, (16, 1, 28, 28)).double() / 256
    moved = copy.deepcopy(mlp)
    with torch.no_grad():
        moved.first_layer.weight.copy_(mlp.first_layer.weight[:, perm])
    assert torch.equal(moved(permute_pixels(x, perm)), mlp(x))
    assert not torch.equal(mlp(permute_pixels(x, perm)), mlp(x))  # the permutation itself does matter


def test_cnn_is_not_permutation_invariant():
    torch.manual_seed(0)
    cnn = SmallCNN().eval()
    x = torch.rand(4, 1, 28, 28)
    assert not torch.allclose(cnn(permute_pixels(x, make_permutation(7))), cnn(x), atol=1e-3)


def test_models_have_similar_size_and_output_ten_logits():
    cnn, mlp = build_model(Experiment(model="cnn")), build_model(Experiment(model="mlp"))
    assert cnn(torch.rand(2, 1, 28, 28)).shape == (2, 10) and mlp(torch.rand(2, 1, 28, 28)).shape == (2, 10)
    ratio = count_parameters(mlp) / count_parameters(cnn)
    assert 0.5 < ratio < 2


def test_the_deep_cnn_beyond_the_study_is_small_and_sees_the_whole_letter():
    deep = build_model(Experiment(model="deep_cnn")).eval()
    assert deep(torch.rand(2, 1, 28, 28)).shape == (2, 10)
    assert 100_000 < count_parameters(deep) < 1_000_000
    # global pooling: a change in any corner reaches the output (its receptive field covers the letter)
    x = torch.rand(1, 1, 28, 28)
    for corner in ((0, 0), (0, 27), (27, 0), (27, 27)):
        y = x.clone()
        y[0, 0, corner[0], corner[1]] += 1
        with torch.no_grad():
            assert not torch.equal(deep(x), deep(y)), corner
