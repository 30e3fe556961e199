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


# ---------------------------------------------------------------------------------------------------------
# keys that know their code


@pytest.fixture
def toy_package(tmp_path, monkeypatch):
    """A package ``toyalgo`` on sys.path: ``algo`` imports ``helper``; ``unrelated`` is imported by nobody."""
    package = tmp_path / "pkgs" / "toyalgo"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "helper.py").write_text("def scale(x):\n    return 2 * x\n")
    (package / "algo.py").write_text("from toyalgo.helper import scale\n\ndef run(x):\n    return scale(x) + 1\n")
    (package / "unrelated.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path / "pkgs"))
    import sys

    for name in [m for m in sys.modules if m == "toyalgo" or m.startswith("toyalgo.")]:
        monkeypatch.delitem(sys.modules, name)  # find_spec imports the package: forget another test's copy
    cache._code_version.cache_clear()
    yield package
    cache._code_version.cache_clear()


def _edit(path, old, new):
    path.write_text(path.read_text().replace(old, new))
    cache._code_version.cache_clear()  # a new process reads the sources afresh


def test_code_version_follows_the_imports_of_the_package(toy_package):
    before = cache.code_version("toyalgo.algo")
    _edit(toy_package / "unrelated.py", "VALUE = 1", "VALUE = 2")
    assert cache.code_version("toyalgo.algo") == before  # not imported: no effect
    _edit(toy_package / "helper.py", "2 * x", "3 * x")
    assert cache.code_version("toyalgo.algo") != before  # a change in a called module invalidates
    with pytest.raises(ValueError, match="no Python source found"):
        cache.code_version("toyalgo.missing")
    with pytest.raises(ValueError, match="one or more module names"):
        cache.code_version()


def test_a_changed_algorithm_invalidates_the_cached_entry(toy_package, tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"y": torch.tensor([1.0, 2.0])}

    value, hit = cache.cached("toy", {"x": 1}, compute, code="toyalgo.algo", cache=tmp_path / "c")
    assert not hit and len(calls) == 1
    value, hit = cache.cached("toy", {"x": 1}, compute, code="toyalgo.algo", cache=tmp_path / "c")
    assert hit and len(calls) == 1 and torch.equal(value["y"], torch.tensor([1.0, 2.0]))
    value, hit = cache.cached("toy", {"x": 2}, compute, code="toyalgo.algo", cache=tmp_path / "c")
    assert not hit and len(calls) == 2  # another description: another entry
    _edit(toy_package / "algo.py", "+ 1", "+ 2")
    value, hit = cache.cached("toy", {"x": 1}, compute, code="toyalgo.algo", cache=tmp_path / "c")
    assert not hit and len(calls) == 3  # the algorithm changed: the old entry is not trusted


def test_the_kits_cache_keys_carry_the_code_version(monkeypatch, tmp_path):
    """The baseline, the sensitivity table and the genome simulation put ``code_version`` in their keys."""
    import inspect

    import imckit.core.training
    import imckit.search.sensitivity
    import imckit.search.simulate

    for module in (imckit.core.training, imckit.search.sensitivity, imckit.search.simulate):
        source = inspect.getsource(module)
        assert "cached(" in source and '__name__' in source, module.__name__  # through cached(): code and torch
    assert cache.code_version("imckit.search.sensitivity") != cache.code_version("imckit.core.data")


def test_unwritable_cache_folder_is_found_before_computing(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    calls = []
    with pytest.raises(PermissionError, match="not writable.*IMCKIT_CACHE"):
        cache.cached("toy", {"x": 1}, lambda: calls.append(1), code="imckit.core.cache", cache=blocker / "sub")
    assert calls == []  # nothing was computed


@pytest.mark.parametrize("kind", ["", "a/b", 3])
def test_cached_rejects_bad_kinds(kind, tmp_path):
    with pytest.raises(ValueError, match="kind must be"):
        cache.cached(kind, {}, lambda: 1, code="imckit.core.cache", cache=tmp_path)


def test_code_versions_are_the_same_in_every_process():
    """Entries are only found again if the code version does not depend on the process (e.g. on Python's
    string hash seed, which orders sets)."""
    import os
    import os
    import subprocess
    import sys

    script = "from imckit.core.cache import code_version; print(code_version('imckit.search.sensitivity', " \
             "'imckit.core.training'))"
    versions = {subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                               env={**os.environ, "PYTHONHASHSEED": seed}).stdout.strip() for seed in ("1", "2", "3")}
    assert len(versions) == 1 and len(versions.pop()) == 16


def test_digest_tells_dtype_shape_and_content_apart():
    from imckit.core.data import ImageTensors
    from imckit.core.models import resnet8

    base = cache.digest(torch.zeros(2))
    assert base == cache.digest(torch.zeros(2)) != cache.digest(torch.zeros(2, 1))
    assert base != cache.digest(torch.zeros(2, dtype=torch.float64)) and base != cache.digest(torch.ones(2))
    model = resnet8(in_channels=1, num_classes=10)
    data = ImageTensors(torch.zeros(3, 1, 8, 8), torch.tensor([0, 1, 2]))
    assert cache.model_data_digest(model, data) == cache.model_data_digest(model, data)
    other = ImageTensors(torch.zeros(3, 1, 8, 8), torch.tensor([0, 1, 1]))
    assert cache.model_data_digest(model, data) != cache.model_data_digest(model, other)
    assert cache.digest(model.to(torch.bfloat16)) != cache.digest(model.float())  # non-numpy dtypes digest too
    assert cache.digest({"a": 1, "b": [2]}) != cache.digest({"a": 1, "b": [3]})


def test_an_empty_cache_argument_computes_without_reading_or_writing(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return len(calls)

    assert cache.cache_entry("toy", {"x": 1}, code="imckit.core.cache", cache="")[1] is None
    assert cache.cached("toy", {"x": 1}, compute, code="imckit.core.cache", cache="") == (1, False)
    assert cache.cached("toy", {"x": 1}, compute, code="imckit.core.cache", cache="") == (2, False)
    assert not cache.cache_dir().exists() or not any(cache.cache_dir().rglob("*.pt"))
    assert cache.cached("toy", {"x": 1}, compute, code="imckit.core.cache") == (3, False)  # None: the default
    assert cache.cached("toy", {"x": 1}, compute, code="imckit.core.cache") == (3, True)


def test_entries_are_named_keyed_by_torch_and_rejected_values_recomputed(tmp_path, monkeypatch):
    key, path = cache.cache_entry("toy", {"x": 1}, code="imckit.core.cache", cache=tmp_path, name="thing-")
    assert path == tmp_path / "toy" / f"thing-{key}.pt"
    assert cache.cached("toy", {"x": 1}, lambda: 1, code="imckit.core.cache", cache=tmp_path, name="thing-") == (1, False)
    assert path.is_file()
    with pytest.warns(RuntimeWarning, match="its value was not accepted"):
        value = cache.cached("toy", {"x": 1}, lambda: 2, code="imckit.core.cache", cache=tmp_path, name="thing-",
                             accept=lambda v: v == 2)
    assert value == (2, False)
    assert cache.cached("toy", {"x": 1}, lambda: 3, code="imckit.core.cache", cache=tmp_path, name="thing-",
                        accept=lambda v: v == 2) == (2, True)
    monkeypatch.setattr(cache, "torch_version", lambda: "99.0")  # another torch: another key
    assert cache.cache_entry("toy", {"x": 1}, code="imckit.core.cache", cache=tmp_path, name="thing-")[0] != key
    with pytest.raises(ValueError, match="name must be a file-name prefix without '/'"):
        cache.cache_entry("toy", {}, code="imckit.core.cache", name="a/b")


def test_keys_and_digests_of_sets_do_not_depend_on_the_hash_seed():
    import os
    import subprocess
    import sys

    code = ("from imckit.core.cache import cache_key, digest; "
            "print(cache_key({'layers': {'conv1', 'fc', 'stack1.conv1', 'stack2.conv2'}}), "
            "digest({'a', 'b', 'c', 'd', 'e'}))")
    outputs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                              env={**os.environ, "PYTHONHASHSEED": str(seed)}).stdout for seed in range(4)}
    assert len(outputs) == 1, outputs
