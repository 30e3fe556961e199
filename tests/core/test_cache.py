import pytest
import torch

import imckit.core.cache as cache
from imckit.core.cache import cache_key, load_entry, save_entry


def test_key_is_stable_and_sensitive():
    assert cache_key({"a": 1, "b": [1, 2]}) == cache_key({"b": [1, 2], "a": 1})
    assert cache_key({"a": 1}) != cache_key({"a": 2})


def test_round_trip(tmp_path):
    payload = {"w": torch.arange(5.0), "history": {"loss": [1.0, 0.5]}}
    save_entry(tmp_path / "e.pt", "k1", payload)
    back = load_entry(tmp_path / "e.pt", "k1")
    assert torch.equal(back["w"], payload["w"]) and back["history"] == payload["history"]
    assert [p.name for p in tmp_path.iterdir()] == ["e.pt"]  # no temporary left behind


def test_missing_is_none(tmp_path):
    assert load_entry(tmp_path / "none.pt", "k") is None


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage"])
def test_damaged_file_is_not_trusted(tmp_path, damage):
    path = save_entry(tmp_path / "e.pt", "k", {"w": torch.arange(1000.0)})
    blob = bytearray(path.read_bytes())
    if damage == "truncate":
        blob = blob[: len(blob) // 2]
    elif damage == "flip":
        # flip a byte inside the stored tensor data (the payload), keeping the archive readable
        index = bytes(blob).find(torch.arange(1000.0)[500:502].numpy().tobytes())
        assert index > 0
        blob[index] ^= 0xFF
    else:
        blob = bytearray(b"not a cache file")
    path.write_bytes(bytes(blob))
    with pytest.warns(RuntimeWarning, match="ignoring cache file"):
        assert load_entry(path, "k") is None


def test_other_key_is_not_trusted(tmp_path):
    path = save_entry(tmp_path / "e.pt", "k1", {"x": 1})
    with pytest.warns(RuntimeWarning, match="differs from the expected"):
        assert load_entry(path, "k2") is None


def test_interrupted_write_leaves_nothing(tmp_path, monkeypatch):
    real_save = torch.save
    calls = []

    def failing_save(obj, f, *a, **k):
        calls.append(1)
        if len(calls) == 2:  # the second call writes the file itself
            f.write(b"partial")
            raise KeyboardInterrupt
        return real_save(obj, f, *a, **k)

    monkeypatch.setattr(cache.torch, "save", failing_save)
    with pytest.raises(KeyboardInterrupt):
        save_entry(tmp_path / "e.pt", "k", {"x": 1})
    assert list(tmp_path.iterdir()) == []
