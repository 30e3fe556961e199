import pytest
import torch

from imckit.core.models import mappable_layers, resnet8
from imckit.quantization.aware import AwareConfig, aware_network, configured_weights, train_aware
from imckit.quantization.qkeras import QuantSpec

from ..conftest import toy_dataset


def small_model(seed=0):
    torch.manual_seed(seed)
    return resnet8(in_channels=1, num_classes=10, width=0.25).eval()


def test_config_validation_names_the_parameter():
    for field, value in (("bits", ()), ("bits", (8, 8)), ("bits", (17,)), ("epochs", 0), ("batch_size", 1),
                         ("lr", 0.0), ("lr", float("nan")), ("uniform_share", 1.5), ("alpha", "ternary")):
        with pytest.raises(ValueError, match=field):
            AwareConfig(**{field: value})
    assert AwareConfig().switchable and not AwareConfig(bits=(4,)).switchable
    assert AwareConfig(bits=(2,)).label == "Full 2"


def test_configured_weights_quantize_every_module_of_the_named_layers():
    model = small_model()
    layers = mappable_layers(model)
    weights = configured_weights(model, 2, QuantSpec("midrise"))
    assert set(weights) == {m for layer in layers for m in layer.modules}
    for name, w in weights.items():
        assert len(torch.unique(w[0])) <= 4  # one output channel of a 2-bit layer: at most four levels
    one = configured_weights(model, {layers[0].name: 4}, QuantSpec("midrise"))
    assert set(one) == set(layers[0].modules)
    with pytest.raises(ValueError, match="layers the model does not have"):
        configured_weights(model, {"nope": 4}, QuantSpec())
    with pytest.raises(ValueError, match="layer_bits"):
        configured_weights(model, {layers[0].name: 0}, QuantSpec())


def test_training_is_reproducible_changes_the_network_and_depends_on_the_widths():
    data = toy_dataset(n_train=64).train
    nets = []
    for bits in ((8, 4, 2), (8, 4, 2), (2,)):
        model = small_model()
        records = train_aware(model, data, AwareConfig(bits=bits, epochs=1, batch_size=16), seed=3)
        assert len(records) == 1 and records[0]["loss"] > 0
        nets.append(model.state_dict())
    # within one pytest process repeated runs differ in the last float bits (~1e-4 after an epoch; separate
    # processes with the same seed agree exactly): compare with a tolerance far below the widths' effect
    assert all(torch.allclose(nets[0][k].float(), nets[1][k].float(), atol=1e-3) for k in nets[0])
    assert any(not torch.allclose(nets[0][k].float(), nets[2][k].float(), atol=1e-2) for k in nets[0])
    assert any(not torch.equal(nets[0][k], small_model().state_dict()[k]) for k in nets[0])
    with pytest.raises(ValueError, match="seed"):
        train_aware(small_model(), data, AwareConfig(epochs=1), seed=-1)


def test_dedicated_training_uses_the_quantized_weights_in_the_forward_pass():
    """At 1 epoch with lr tiny, a 2-bit dedicated network's training loss is the loss of the 2-bit weights,
    which differs from the float network's."""
    data = toy_dataset(n_train=32).train
    losses = {}
    for bits in ((2,), (16,)):
        model = small_model()
        losses[bits] = train_aware(model, data, AwareConfig(bits=bits, epochs=1, batch_size=32, lr=1e-9,
                                                            momentum=0.0, weight_decay=0.0), seed=0)[0]["loss"]
    model = small_model().train()
    with torch.no_grad():
        float_loss = float(torch.nn.functional.cross_entropy(model(data.images), data.labels))
    assert losses[(16,)] == pytest.approx(float_loss, rel=1e-3)
    assert abs(losses[(2,)] - float_loss) > 1e-3


def test_aware_network_is_cached_and_leaves_the_float_model_alone():
    data = toy_dataset(n_train=32).train
    model = small_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    config = AwareConfig(bits=(4,), epochs=1, batch_size=16)
    first = aware_network(model, data, config, seed=1)
    second = aware_network(model, data, config, seed=1)
    assert not first.from_cache and second.from_cache
    assert all(torch.equal(v, second.model.state_dict()[k]) for k, v in first.model.state_dict().items())
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    assert first.quant == QuantSpec("midrise") and first.seconds > 0


def test_frozen_epochs_keep_the_batchnorm_statistics_and_still_train():
    """The ordinary epochs are those of the same run without frozen epochs (same seed), so the frozen epoch
    starts from network A's state: afterwards B has A's running statistics but other weights."""
    data = toy_dataset(n_train=32).train
    a, b = small_model(), small_model()
    train_aware(a, data, AwareConfig(epochs=1, batch_size=16), seed=0)
    records = train_aware(b, data, AwareConfig(epochs=1, frozen_epochs=1, batch_size=16, frozen_lr=0.5), seed=0)
    assert [r["batchnorm"] for r in records] == ["train", "frozen"]
    sa, sb = a.state_dict(), b.state_dict()
    running = [k for k in sa if "running" in k]
    assert running and all(torch.allclose(sa[k], sb[k], atol=1e-3) for k in running)
    assert any(not torch.allclose(sa[k], sb[k], atol=1e-2) for k in sa if k.endswith("weight"))
    with pytest.raises(ValueError, match="frozen_epochs"):
        AwareConfig(frozen_epochs=-1)
    with pytest.raises(ValueError, match="frozen_lr"):
        AwareConfig(frozen_lr=0)
