import pytest
import torch

from imckit.quantization.qkeras import quantize, quantized_bits

X = torch.tensor([-1.2, -0.5, -0.06, 0.0, 0.06, 0.2, 0.49, 0.9])


def test_matches_hand_computed_qkeras_outputs():
    # QKeras quantized_bits(4, 0): m = 8, codes clip(round(8x), -8, 7) / 8 (round half to even)
    assert quantized_bits(X, bits=4).tolist() == [-1.0, -0.5, 0.0, 0.0, 0.0, 0.25, 0.5, 0.875]
    assert quantized_bits(X, bits=4, symmetric=True).tolist() == [-0.875, -0.5, 0.0, 0.0, 0.0, 0.25, 0.5, 0.875]
    y = torch.tensor([3.99, -4.5, 0.013])
    assert quantized_bits(y, bits=8, integer=2).tolist() == [3.96875, -4.0, 0.0]
    assert quantized_bits(y, bits=8, integer=2, symmetric=True).tolist() == [3.96875, -3.96875, 0.0]
    # unsigned: m = 16, clip(round(16x), 0, 15) / 16
    assert quantized_bits(torch.tensor([-0.3, 0.52, 2.0]), bits=4, keep_negative=False).tolist() == [0.0, 0.5, 0.9375]


def test_round_half_to_even_like_tf_round():
    # 8 * 0.0625 = 0.5 -> 0 ; 8 * 0.1875 = 1.5 -> 2
    assert quantized_bits(torch.tensor([0.0625, 0.1875]), bits=4).tolist() == [0.0, 0.25]


def test_one_bit_signed_is_the_sign():
    assert quantized_bits(torch.tensor([-0.3, 0.0, 0.2]), bits=1).tolist() == [-1.0, 1.0, 1.0]


def test_auto_scale_is_per_output_channel():
    w = torch.tensor([[0.875, -0.4375, 0.125], [0.21875, -0.109375, 0.03125]])  # exact in binary
    q = quantize(w, bits=4, alpha="auto")
    # levels = 14, scale = 2 * max|w| / 14 per row; codes = floor(|w| / scale + 0.5) (half away from 0)
    assert q.codes.tolist() == [[7, -4, 1], [7, -4, 1]]
    assert q.step.flatten().tolist() == [0.125, 0.03125]


def test_auto_po2_scale_is_a_power_of_two():
    w = torch.randn(6, 4, 3, 3, generator=torch.Generator().manual_seed(0)) * 0.05
    q = quantize(w, bits=4, alpha="auto_po2")
    exponents = torch.log2(q.step.flatten())
    assert torch.equal(exponents, exponents.round())
    assert q.codes.abs().max() <= 7
    assert (q.dequantize() - w).abs().mean() < (w.abs().mean())


def test_words_round_trip_and_are_offset_binary():
    q = quantize(X, bits=4)
    words = q.to_words()
    assert words.min() >= 0 and words.max() <= 15
    assert torch.equal(q.from_words(words), q.codes)
    assert q.to_words(torch.tensor([-8, 0, 7])).tolist() == [0, 8, 15]  # monotonic in the code


@pytest.mark.parametrize("kwargs,message", [
    ({"bits": 0}, r"bits must be an integer in \[1, 16\]"),
    ({"bits": 17}, r"bits must be an integer in \[1, 16\]"),
    ({"bits": 4, "integer": 5}, r"integer must be an integer in \[0, 4\]; got 5"),
    ({"bits": 4, "alpha": "max"}, "alpha must be one of"),
    ({"bits": 1, "alpha": "auto"}, r"bits must be >= 2 for alpha='auto'"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        quantize(X, **kwargs)


def test_error_decreases_with_bits():
    w = torch.randn(1000, generator=torch.Generator().manual_seed(0)) * 0.3
    errors = [(quantized_bits(w, b, alpha="auto") - w).abs().mean().item() for b in (2, 4, 8, 12)]
    assert errors == sorted(errors, reverse=True)


def test_midrise_two_bit_words_use_all_four_codes_and_auto_only_three():
    from imckit.quantization.qkeras import quantize

    x = torch.randn(8, 4, 3, 3, generator=torch.Generator().manual_seed(0))
    mid, auto = quantize(x, 2, alpha="midrise"), quantize(x, 2, alpha="auto")
    for channel in range(8):
        assert set(mid.to_words()[channel].unique().tolist()) == {0, 1, 2, 3}
        assert len(auto.to_words()[channel].unique()) <= 3
    assert set(mid.codes.unique().tolist()) == {-3, -1, 1, 3}  # odd codes, levels +-step, +-3 step
    assert torch.equal(mid.from_words(mid.to_words()), mid.codes)


def test_midrise_keeps_a_tensor_that_lies_on_its_grid_and_is_symmetric():
    """Hand computation: the four levels -1.5 s, -0.5 s, 0.5 s, 1.5 s with s = 0.2 are a fixed point of the
    least-squares scale (z = x / s exactly), so quantizing them returns them unchanged."""
    from imckit.quantization.qkeras import quantize

    x = torch.tensor([[-0.3, -0.1, 0.1, 0.3, 0.1, -0.1]])
    q = quantize(x, 2, alpha="midrise")
    assert torch.allclose(q.dequantize(), x, atol=1e-7)
    assert torch.allclose(q.step, torch.tensor([[0.1]]))
    assert torch.allclose(quantize(-x, 4, alpha="midrise").dequantize(), -quantize(x, 4, alpha="midrise").dequantize())
    zero = quantize(torch.zeros(2, 3), 2, alpha="midrise")
    assert torch.isfinite(zero.dequantize()).all()


def test_fake_quantize_gradient_is_straight_through():
    """Hand computation: y = w + stop_gradient(q(w) - w), so for L = sum(g * y), dL/dw = g exactly,
    also for a weight that the grid clips (5.0 lies far beyond the top level)."""
    from imckit.quantization.qkeras import QuantSpec, fake_quantize

    w = torch.tensor([[0.3, -0.7, 1.2, 5.0]], requires_grad=True)
    g = torch.tensor([[1.0, -2.0, 0.5, 3.0]])
    y = fake_quantize(w, 2, QuantSpec("midrise"))
    assert torch.equal(y.detach(), QuantSpec("midrise").apply(w.detach(), 2).dequantize())
    (g * y).sum().backward()
    assert torch.equal(w.grad, g)
