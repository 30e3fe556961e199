"""The exact GGN diagonal: against the GGN built from full Jacobians, against the Hessian where they coincide
(a linear model), its halves, and its input checks."""

import pytest
import torch
from torch import nn

from imckit.crossbars.ggn import ggn_diagonal, ggn_diagonal_halves, loss_hessian_factor
from imckit.crossbars.hessian import diagonal_strip_sensitivity


class Small(nn.Module):
    """Convolution, BatchNorm (eval, non-trivial statistics), ReLU, pooling, dense: every kind of layer the
    kit's networks have, at a size whose full Jacobian is cheap."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(torch.relu(self.bn(self.conv(x))).mean((2, 3)))


@pytest.fixture(scope="module")
def small():
    torch.manual_seed(0)
    model = Small()
    with torch.no_grad():
        model.bn.running_mean.normal_()
        model.bn.running_var.uniform_(0.5, 2.0)
    model.eval()
    x = torch.randn(9, 2, 5, 5)
    return model, x


def brute_force_ggn(model, x, names):
    """``(1/N) sum_n J_n^T H_n J_n`` in float64 from full Jacobians (``torch.autograd.functional.jacobian``),
    the loss Hessian ``H_n = diag(p) - p p^T`` written out, over the flattened weights ``names``."""
    model = __import__("copy").deepcopy(model).double().eval()
    params = {n: p.detach() for n, p in model.named_parameters()}
    buffers = dict(model.named_buffers())
    shapes = [params[n].shape for n in names]
    flat = torch.cat([params[n].flatten() for n in names])

    def logits(vector, sample):
        parts = torch.split(vector, [s.numel() for s in shapes])
        weights = {**params, **{n: t.reshape(s) for n, t, s in zip(names, parts, shapes)}}
        return torch.func.functional_call(model, {**weights, **buffers}, (sample.unsqueeze(0),)).squeeze(0)

    total = torch.zeros(len(flat), len(flat), dtype=torch.float64)
    for sample in x.double():
        jacobian = torch.autograd.functional.jacobian(lambda v: logits(v, sample), flat)
        p = torch.softmax(logits(flat, sample), -1)
        total += jacobian.T @ (torch.diag(p) - torch.outer(p, p)) @ jacobian
    return total / len(x)


def test_matches_the_ggn_built_from_full_jacobians(small):
    model, x = small
    ours = ggn_diagonal(model, x, ["conv", "fc"], batch_size=4)  # 4 + 4 + 1: a ragged last batch
    expected = brute_force_ggn(model, x, ["conv.weight", "fc.weight"]).diagonal()
    flat = torch.cat([ours["conv"].flatten(), ours["fc"].flatten()]).double()
    assert ours["conv"].shape == model.conv.weight.shape and ours["fc"].shape == model.fc.weight.shape
    assert ours["conv"].dtype == torch.float32
    assert torch.allclose(flat, expected, rtol=1e-5, atol=1e-8 * float(expected.abs().max()))
    assert bool((flat >= 0).all())  # a sum of squares


def test_equals_the_hessian_diagonal_for_a_linear_model():
    """A model linear in its weights has no second-derivative term: the GGN is the Hessian."""
    torch.manual_seed(1)
    model = nn.Linear(6, 4).double().eval()
    x, y = torch.randn(11, 6, dtype=torch.float64), torch.randint(0, 4, (11,))

    def loss(weight):
        return nn.functional.cross_entropy(nn.functional.linear(x, weight, model.bias.detach()), y)

    hessian = torch.autograd.functional.hessian(loss, model.weight.detach())  # (4, 6, 4, 6)
    expected = hessian.reshape(24, 24).diagonal().reshape(4, 6)
    ours = ggn_diagonal(model, x, [""], batch_size=5)[""]
    assert torch.allclose(ours.double(), expected, rtol=1e-5, atol=1e-9)


def test_does_not_depend_on_the_batch_size_and_is_deterministic(small):
    model, x = small
    a = ggn_diagonal(model, x, ["conv"], batch_size=2)
    b = ggn_diagonal(model, x, ["conv"], batch_size=9)
    c = ggn_diagonal(model, x, ["conv"], batch_size=2)
    assert torch.allclose(a["conv"], b["conv"], rtol=1e-5, atol=1e-9)
    assert torch.equal(a["conv"], c["conv"])


def test_the_caller_model_stays_in_place_and_unchanged(small):
    model, x = small
    before = {k: v.clone() for k, v in model.state_dict().items()}
    ggn_diagonal(model, x, ["fc"], device="auto")
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert next(model.parameters()).device.type == "cpu"


def test_halves_are_the_two_halves_and_their_weighted_mean_is_the_whole(small):
    model, x = small
    first, second, whole = ggn_diagonal_halves(model, x, ["conv", "fc"])
    assert torch.allclose(first["fc"], ggn_diagonal(model, x[:4], ["fc"])["fc"])
    assert torch.allclose(second["fc"], ggn_diagonal(model, x[4:], ["fc"])["fc"])
    assert torch.allclose(whole["conv"], ggn_diagonal(model, x, ["conv"])["conv"], rtol=1e-5, atol=1e-9)
    scores = diagonal_strip_sensitivity(model, whole)  # the strip scores of any diagonal accept it
    assert scores["conv"].shape == (4, 3, 3) and scores["fc"].shape == (3,)


def test_loss_hessian_factor_reproduces_the_cross_entropy_hessian():
    logits = torch.randn(5, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    factor = loss_hessian_factor(logits)
    for z, s in zip(logits, factor):
        expected = torch.autograd.functional.hessian(lambda v: torch.logsumexp(v, 0), z)  # CE's Hessian in z
        assert torch.allclose(s @ s.T, expected, atol=1e-12)
    with pytest.raises(ValueError, match="logits must be a tensor whose last axis holds >= 2 classes"):
        loss_hessian_factor(torch.zeros(3, 1))


@pytest.mark.parametrize("call,message", [
    (lambda m, x: ggn_diagonal("net", x, ["fc"]), "^model must be a torch.nn.Module; got str"),
    (lambda m, x: ggn_diagonal(m, x[:0], ["fc"]),
     r"inputs must be a tensor of one or more samples .*got \(0, 2, 5, 5\)"),
    (lambda m, x: ggn_diagonal(m, x.long(), ["fc"]), "^inputs must be a floating-point tensor; got dtype torch.int64"),
    (lambda m, x: ggn_diagonal(m, x, []), r"modules must be a non-empty list of module names; got \[\]"),
    (lambda m, x: ggn_diagonal(m, x, "fc"), "modules must be a non-empty list of module names; got 'fc'"),
    (lambda m, x: ggn_diagonal(m, x, ["head"]), r"^modules must name modules of the model with a weight.*got 'head'"),
    (lambda m, x: ggn_diagonal(m, x, ["fc", "fc"]), "modules must not repeat a name"),
    (lambda m, x: ggn_diagonal(m, x, ["fc"], batch_size=0), r"batch_size must be an integer in \[1, 100000\].*got 0"),
    (lambda m, x: ggn_diagonal(m, x, ["fc"], device="tpu"), "device must be one of"),
    (lambda m, x: ggn_diagonal_halves(m, x[:1], ["fc"]), "inputs must hold at least 2 samples .* got 1"),
])
def test_bad_inputs_raise_naming_the_parameter(small, call, message):
    model, x = small
    with pytest.raises((ValueError, TypeError), match=message):
        call(model, x)


def test_a_model_without_class_logits_is_refused():
    model = nn.Sequential(nn.Linear(3, 2), nn.Flatten(0)).eval()  # flattens the batch away: (1, 2) -> (2,)
    with pytest.raises(ValueError, match=r"model must return logits of shape \(batch, classes >= 2\); got \(2,\)"):
        ggn_diagonal(model, torch.randn(4, 3), ["0"])
