import numpy as np
import pytest
import torch
from torch import nn

from imckit.crossbars.hessian import hessian_trace, hessian_vector_product, strip_sensitivity
from imckit.crossbars.strips import strip_view


class Tiny(nn.Module):
    """conv (2 x 3 x 2 x 2) -> tanh -> dense (3 outputs): small enough for the exact Hessian."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 2, bias=False)
        self.fc = nn.Linear(2 * 3 * 3, 3)

    def forward(self, x):
        return self.fc(torch.tanh(self.conv(x)).flatten(1))


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    model = Tiny().double()
    x = torch.randn(16, 3, 4, 4, dtype=torch.float64)
    y = torch.randint(0, 3, (16,))
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    flat = torch.cat([p.detach().flatten() for p in model.parameters()])

    def loss_of(vector):
        params, offset = {}, 0
        for n, s in zip(names, shapes):
            size = int(np.prod(s))
            params[n] = vector[offset : offset + size].view(s)
            offset += size
        return nn.functional.cross_entropy(torch.func.functional_call(model, params, (x,)), y)

    hessian = torch.autograd.functional.hessian(loss_of, flat)
    return model, x, y, hessian, names, shapes


def _split(vector, names, shapes):
    out, offset = {}, 0
    for n, s in zip(names, shapes):
        size = int(np.prod(s))
        out[n] = vector[offset : offset + size].view(s)
        offset += size
    return out


def test_hessian_vector_product_is_exact(tiny):
    model, x, y, hessian, names, shapes = tiny
    v = torch.randn(hessian.shape[0], dtype=torch.float64)
    hv = hessian_vector_product(model, nn.CrossEntropyLoss(), x, y, _split(v, names, shapes))
    assert torch.allclose(torch.cat([hv[n].flatten() for n in names]), hessian @ v, atol=1e-10)


def test_hutchinson_estimates_trace_layers_and_strips(tiny):
    model, x, y, hessian, names, shapes = tiny
    est = hessian_trace(model, nn.CrossEntropyLoss(), x, y, n_probes=4000, tol=0, seed=1)
    diag = _split(torch.diagonal(hessian), names, shapes)
    exact_total = float(torch.diagonal(hessian).sum())
    assert est.probes == 4000 and not est.converged
    assert est.total == pytest.approx(exact_total, abs=4 * est.total_error)
    assert est.layer_traces()["conv"] == pytest.approx(float(diag["conv.weight"].sum()), rel=0.1, abs=1e-3)
    exact_strips = strip_view(diag["conv.weight"]).sum(-1)  # (N, K, K)
    assert est.strip_traces("conv").shape == (2, 2, 2)
    # each strip estimate is within 5 standard deviations of the exact strip trace; the variance of the
    # per-probe estimate sum_{i in S} v_i (Hv)_i is exact for Rademacher probes:
    # sum_{i in S, j not in S} H_ij^2 + sum_{i<j in S} (2 H_ij)^2
    index = torch.arange(int(np.prod(shapes[0]))).view(shapes[0])
    strips = strip_view(index).reshape(-1, shapes[0][1])  # flat parameter indices of each strip
    estimates = est.strip_traces("conv").double().flatten()
    for k, members in enumerate(strips):
        inside = torch.zeros(hessian.shape[0], dtype=torch.bool)
        inside[members] = True
        block = hessian[inside][:, inside]
        var = float(hessian[inside][:, ~inside].pow(2).sum() + (2 * torch.triu(block, 1)).pow(2).sum())
        assert abs(float(estimates[k]) - float(exact_strips.flatten()[k])) <= 5 * np.sqrt(var / est.probes) + 1e-9
    assert est.strip_traces("fc").shape == (3,)
    # the sensitivity score is Tr(H_strip) / (2 p) * ||w_strip||^2 with p = D = 3
    scores = strip_sensitivity(model, est, ["conv"])["conv"]
    w = strip_view(model.conv.weight.detach())
    assert torch.allclose(scores, est.strip_traces("conv") / 6 * w.pow(2).sum(-1))


def test_same_seed_same_estimate_and_tolerance_stops_early(tiny):
    model, x, y, *_ = tiny
    a = hessian_trace(model, nn.CrossEntropyLoss(), x, y, n_probes=50, seed=3, tol=0)
    b = hessian_trace(model, nn.CrossEntropyLoss(), x, y, n_probes=50, seed=3, tol=0)
    c = hessian_trace(model, nn.CrossEntropyLoss(), x, y, n_probes=50, seed=4, tol=0)
    assert a.total == b.total and a.total != c.total
    early = hessian_trace(model, nn.CrossEntropyLoss(), x, y, n_probes=5000, seed=3, tol=0.01)
    assert early.converged and 10 <= early.probes < 5000 and len(early.history) == early.probes


def test_model_is_not_changed(tiny):
    model, x, y, *_ = tiny
    before = [p.detach().clone() for p in model.parameters()]
    hessian_trace(model, nn.CrossEntropyLoss(), x, y, n_probes=3, tol=0)
    assert all(torch.equal(a, p) for a, p in zip(before, model.parameters()))


@pytest.mark.parametrize("kwargs,message", [
    ({"n_probes": 0}, r"n_probes must be an integer in \[1, 100000\]"),
    ({"tol": 1.5}, r"^tol must be a finite number in \[0, 1\)"),
    ({"min_probes": 0}, "min_probes must be an integer >= 1"),
    ({"parameters": ["nope.weight"]}, r"^parameters must name parameters of the model.*got unknown \['nope.weight'\]"),
])
def test_bad_input(tiny, kwargs, message):
    model, x, y, *_ = tiny
    with pytest.raises(ValueError, match=message):
        hessian_trace(model, nn.CrossEntropyLoss(), x, y, **kwargs)
    with pytest.raises(ValueError, match="^targets must hold one target per sample"):
        hessian_trace(model, nn.CrossEntropyLoss(), x, y[:3])


def test_weight_sensitivity(tiny):
    from imckit.crossbars.hessian import weight_sensitivity

    model, x, y, *_ = tiny
    est = hessian_trace(model, nn.CrossEntropyLoss(), x, y, n_probes=5, tol=0)
    s = weight_sensitivity(model, est, ["conv"])["conv"]
    assert torch.allclose(s, est.diagonal["conv.weight"] / 2 * model.conv.weight.detach() ** 2)
    with pytest.raises(ValueError, match="no weight of module 'nope'"):
        weight_sensitivity(model, est, ["nope"])


def test_halves_average_to_the_estimate_and_reliability_grows_with_probes(tiny):
    from imckit.crossbars.hessian import diagonal_strip_sensitivity, strip_reliability

    model, x, y, hessian, names, shapes = tiny
    est = hessian_trace(model, nn.CrossEntropyLoss(), x, y, n_probes=7, tol=0, seed=3)
    odd, even = est.halves["conv.weight"]
    assert torch.allclose((4 * odd + 3 * even) / 7, est.diagonal["conv.weight"], atol=1e-12)
    # scores from a diagonal: the exact diagonal gives the exact strip scores by hand
    exact = _split(torch.diagonal(hessian), names, shapes)["conv.weight"]
    scores = diagonal_strip_sensitivity(model, {"conv": exact})["conv"]
    w = model.conv.weight.detach()
    assert torch.allclose(scores[1, 0, 1], exact[1, :, 0, 1].sum() / (2 * 3) * w[1, :, 0, 1].pow(2).sum())
    # the halves are independent estimates: few probes rank strips worse than many
    few = np.mean([strip_reliability(model, hessian_trace(model, nn.CrossEntropyLoss(), x, y, n_probes=2, tol=0,
                                                          seed=s), ["conv", "fc"]) for s in range(5)])
    many = strip_reliability(model, hessian_trace(model, nn.CrossEntropyLoss(), x, y, n_probes=2000, tol=0, seed=0),
                             ["conv", "fc"])
    assert many > 0.9 and many > few
    with pytest.raises(ValueError, match="at least 2 probes"):
        strip_reliability(model, hessian_trace(model, nn.CrossEntropyLoss(), x, y, n_probes=1, tol=0), ["conv"])
    with pytest.raises(ValueError, match="diagonal\\['conv'\\] has shape"):
        diagonal_strip_sensitivity(model, {"conv": torch.ones(3)})


def test_trace_round_trips_through_plain_data_and_the_cache_format(tiny, tmp_path):
    from imckit.core.cache import load_entry, save_entry
    from imckit.crossbars.hessian import HessianTrace

    model, x, y, *_ = tiny
    est = hessian_trace(model, nn.CrossEntropyLoss(), x, y, n_probes=5, tol=0, seed=2)
    save_entry(tmp_path / "t.pt", "k", est.to_data())  # read back with weights_only=True
    back = HessianTrace.from_data(load_entry(tmp_path / "t.pt", "k"))
    assert back.total == est.total and back.total_error == est.total_error and back.probes == est.probes
    assert back.converged == est.converged and np.array_equal(back.history, est.history)
    assert all(torch.equal(back.diagonal[n], d) for n, d in est.diagonal.items())
    assert all(torch.equal(back.halves[n][k], h[k]) for n, h in est.halves.items() for k in range(2))
    assert back.layer_traces() == est.layer_traces()


@pytest.mark.parametrize("device", ["cpu", "auto"])
def test_device_gives_the_cpu_estimate_bit_for_bit(tiny, device):
    model, x, y, *_ = tiny
    reference = hessian_trace(model, nn.CrossEntropyLoss(), x, y, n_probes=4, tol=0, seed=1)
    est = hessian_trace(model, nn.CrossEntropyLoss(), x, y, n_probes=4, tol=0, seed=1, device=device)
    assert est.total == reference.total
    assert all(torch.equal(est.diagonal[n], d) and est.diagonal[n].device.type == "cpu"
               for n, d in reference.diagonal.items())
    with pytest.raises(ValueError, match="device must be one of"):
        hessian_trace(model, nn.CrossEntropyLoss(), x, y, n_probes=2, device="tpu")


def test_spearman_brown_and_probes_needed_by_hand():
    from imckit.crossbars.hessian import probes_for_reliability, spearman_brown

    assert spearman_brown(0.5) == pytest.approx(2 / 3)
    assert spearman_brown(0.0) == 0.0 and spearman_brown(1.0) == 1.0
    assert spearman_brown(-1.0) is None  # 2r / (1 + r) is undefined
    assert spearman_brown(0.5, factor=3) == pytest.approx(1.5 / 2)
    # a half of 4 probes at r = 0.5: 0.9 * 0.5 / (0.5 * 0.1) = 9 times as many, 36 probes
    assert probes_for_reliability(0.5, 4, target=0.9) == pytest.approx(36)
    # consistency: the prophecy at that length reaches the target
    assert spearman_brown(0.5, factor=36 / 4) == pytest.approx(0.9)
    assert probes_for_reliability(0.0, 4) is None and probes_for_reliability(-0.3, 4) is None
    with pytest.raises(ValueError, match=r"^reliability must be a finite number in \[-1, 1\]"):
        spearman_brown(1.5)
    with pytest.raises(ValueError, match=r"^target must be a finite number in \(0, 1\)"):
        probes_for_reliability(0.5, 4, target=1.0)
    with pytest.raises(ValueError, match="^probes must be a finite number > 0"):
        probes_for_reliability(0.5, 0)


def test_rank_agreement_negative_share_and_score_reliability(tiny):
    from imckit.crossbars.hessian import (diagonal_weight_sensitivity, negative_share, rank_agreement,
                                          score_reliability)

    model, *_ = tiny
    a = {"conv": torch.tensor([1.0, 2.0, 3.0]), "fc": torch.tensor([4.0, -5.0])}
    assert rank_agreement(a, a) == pytest.approx(1.0)
    assert rank_agreement(a, {m: -s for m, s in a.items()}) == pytest.approx(-1.0)
    assert negative_share(a) == pytest.approx(1 / 5)
    with pytest.raises(ValueError, match="no scores for module"):
        rank_agreement(a, {"conv": a["conv"]})
    d = {"conv": torch.rand_like(model.conv.weight), "fc": torch.rand_like(model.fc.weight)}
    assert score_reliability(model, d, d, ["conv", "fc"]) == pytest.approx(1.0)
    weights = diagonal_weight_sensitivity(model, d)
    assert torch.allclose(weights["fc"], d["fc"] / 2 * model.fc.weight.detach() ** 2)
    with pytest.raises(ValueError, match="has shape"):
        diagonal_weight_sensitivity(model, {"conv": torch.ones(2)})
