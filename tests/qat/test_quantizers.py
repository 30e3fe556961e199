import math

import pytest
import torch

from imckit.qat.quantizers import (PAPER_RAMPS, LevelQuantizer, bit_patterns, lambda_schedule, layer_alpha,
                                   nearest_level, regularization_loss, ste_quantize)


def test_bit_patterns_by_hand():
    assert bit_patterns(2).tolist() == [[0, 0], [1, 0], [0, 1], [1, 1]]
    with pytest.raises(ValueError, match=r"^bits must be an integer in \[1, 12\]; got 0"):
        bit_patterns(0)


@pytest.mark.parametrize("kind", ["fixed", "step", "multipliers"])
def test_every_kind_starts_from_the_same_uniform_offset_binary_grid(kind):
    w = torch.randn(64, generator=torch.Generator().manual_seed(0))
    q = LevelQuantizer(3, kind, w)
    levels = q.levels().detach()
    step = float(levels[1] - levels[0])
    assert torch.allclose(levels, (torch.arange(8) - 4) * step, atol=1e-6)
    trainable = sum(p.numel() for p in q.parameters())
    assert trainable == {"fixed": 0, "step": 2, "multipliers": 4}[kind]


def test_initial_step_minimizes_the_mean_squared_error():
    w = torch.randn(500, generator=torch.Generator().manual_seed(1))
    q = LevelQuantizer(4, "fixed", w)

    def mse(step):
        return float((torch.clamp(torch.round(w / step), -8, 7) * step - w).pow(2).mean())

    best = float(q.step)
    assert mse(best) <= min(mse(best * 0.9), mse(best * 1.1), mse(float(w.abs().max()) / 7.5))


def test_loss_is_zero_on_levels_and_matches_a_loop_by_hand():
    levels = torch.tensor([-1.0, 0.0, 0.5, 2.0])
    on = torch.tensor([0.0, 2.0, -1.0, 0.5])
    assert float(regularization_loss(on, levels, 1.0)) == 0.0
    w = torch.tensor([0.2, 1.0, -3.0])
    expected = 0.3 * ((0.2 - 0.0) ** 2 + (1.0 - 0.5) ** 2 + (-3.0 + 1.0) ** 2)
    assert float(regularization_loss(w, levels, 0.3)) == pytest.approx(expected)
    # a validity mask excludes levels: weight 0 may only reach 2.0, the others anything
    valid = torch.ones(3, 4, dtype=torch.bool)
    valid[0] = torch.tensor([False, False, False, True])
    masked = 0.3 * ((0.2 - 2.0) ** 2 + (1.0 - 0.5) ** 2 + (-3.0 + 1.0) ** 2)
    assert float(regularization_loss(w, levels, 0.3, valid)) == pytest.approx(masked)
    assert nearest_level(w, levels, valid).tolist() == [3, 2, 0]
    # per-weight levels (variability): each weight its own row
    per_weight = torch.stack([levels, levels + 1, levels - 1])
    assert float(regularization_loss(w, per_weight, 1.0)) == pytest.approx(0.2**2 + 0.0 + 1.0**2)


def test_gradients_reach_weights_and_quantizer():
    w = torch.randn(32, generator=torch.Generator().manual_seed(2)).requires_grad_(True)
    q = LevelQuantizer(3, "multipliers", w.detach())
    loss = regularization_loss(w, q.levels(), 1.0)
    loss.backward()
    assert w.grad.abs().sum() > 0 and q.r.grad.abs().sum() > 0 and q.offset.grad is not None


def test_ste_forward_is_quantized_and_backward_is_identity():
    levels = torch.tensor([-1.0, 0.0, 1.0]).requires_grad_(True)
    w = torch.tensor([0.3, -0.8, 5.0], requires_grad=True)
    out = ste_quantize(w, levels)
    assert out.tolist() == [0.0, -1.0, 1.0]
    out.sum().backward()
    assert w.grad.tolist() == [1.0, 1.0, 1.0] and levels.grad.tolist() == [1.0, 1.0, 1.0]


def test_lambda_schedule_shape():
    values = [lambda_schedule(p / 100, 100.0, 2000.0, 0.2) for p in range(101)]
    assert all(v == 100.0 for v in values[:81])  # flat for the first 80 %
    assert values[-1] == pytest.approx(2000.0)
    ratios = [b / a for a, b in zip(values[80:-1], values[81:])]
    assert all(r == pytest.approx(ratios[0]) for r in ratios) and ratios[0] > 1  # exponential rise
    assert lambda_schedule(0.7, 1.0, 10.0, 0.0) == 1.0
    with pytest.raises(ValueError, match=r"^ramp must be a finite number in \[0.0, 1.0\]"):
        lambda_schedule(0.5, 1.0, 2.0, 1.5)
    with pytest.raises(ValueError, match="^start must be a finite number > 0"):
        lambda_schedule(0.5, 0.0, 2.0, 0.5)


def test_paper_ramps_are_its_final_epochs():
    # Sec. 4: lambda rises over the final 20 of 200 epochs of QAT; Sec. 4.3: over the final 10 of 20 epochs
    # of a fault-aware fine-tune
    assert PAPER_RAMPS == {"qat": 0.1, "tune": 0.5}
    epochs = 200
    flat = [e for e in range(epochs) if lambda_schedule(e / epochs, 100.0, 2000.0, PAPER_RAMPS["qat"]) == 100.0]
    assert len(flat) == 181  # epochs 0..180 start at lambda = 100; it rises from epoch 180 on, over the last 20
    assert lambda_schedule(1.0, 100.0, 2000.0, PAPER_RAMPS["qat"]) == pytest.approx(2000.0)
    assert lambda_schedule(0.5, 100.0, 2000.0, PAPER_RAMPS["tune"]) == 100.0  # the first 10 of 20 epochs flat


def test_alpha_and_bad_input():
    assert layer_alpha(100, 4) == pytest.approx(1 / math.sqrt(700))
    with pytest.raises(ValueError, match="kind must be one of"):
        LevelQuantizer(4, "lloyd", torch.ones(3))
    with pytest.raises(ValueError, match=r"bits must be an integer in \[2, 8\]"):
        LevelQuantizer(1, "fixed", torch.ones(3))
    with pytest.raises(ValueError, match="valid must be a bool tensor"):
        regularization_loss(torch.ones(3), torch.ones(4), 1.0, torch.ones(3, 5, dtype=torch.bool))


@pytest.mark.parametrize("device", ["cpu", "auto"])
def test_patterns_and_quantizers_follow_the_device(device):
    patterns = bit_patterns(3, device)
    assert torch.equal(patterns.cpu(), bit_patterns(3))
    w = torch.randn(64, generator=torch.Generator().manual_seed(2))
    for kind in ("fixed", "step", "multipliers"):
        here = LevelQuantizer(3, kind, w.to(patterns.device))
        assert all(t.device == patterns.device for t in list(here.parameters()) + list(here.buffers()))
        assert torch.equal(here.levels().detach().cpu(), LevelQuantizer(3, kind, w).levels().detach())
    with pytest.raises(ValueError, match="device must be one of"):
        bit_patterns(3, "tpu")
