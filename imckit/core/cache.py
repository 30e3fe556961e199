"""Content-addressed on-disk caches, written atomically and validated when read.

A cache entry is keyed by a canonical JSON description of everything that defines it (:func:`cache_key`).
It is written to a temporary file in the same folder, flushed to disk and renamed into place, so an
interrupted run never leaves a half-written entry under the final name. Each file stores its key and a
SHA-256 of its payload; :func:`load_entry` returns ``None`` (and warns) for a missing, truncated, corrupted
or mismatched file, so the caller recomputes instead of trusting it.

Keys know the code: :func:`code_version` hashes the source of the modules that compute an entry and of
every module of the same package they import (transitively), so a change to the algorithm (or to anything
it calls inside the kit) gives a new key and the old entry is never read again. :func:`cached` puts the
pieces together for any expensive computation: key from a description plus the code version, a check that
the folder is writable *before* the computation starts, an atomic write after it.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import io
import json
import os
import tempfile
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from imckit.core.validate import check_writable_dir

FORMAT = "imckit-cache-v1"


class CacheNotWritableError(PermissionError, ValueError):
    """The cache folder cannot be written to: found out before a long computation starts, not after. A
    :class:`PermissionError` and a :class:`ValueError` (the ``cache`` argument or ``$IMCKIT_CACHE`` is bad
    input) alike."""


def cache_dir() -> Path:
    """The cache folder: ``$IMCKIT_CACHE``, else ``~/.cache/imckit``."""
    env = os.environ.get("IMCKIT_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "imckit"


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once at import: changing it later would race with other threads' files


def cache_key(spec: dict) -> str:
    """A stable hex key for a JSON-serializable description (dict order does not matter, nor set order:
    sets are sorted, since their ``str`` follows the process's hash seed; anything else unserializable is
    described by its ``str``)."""
    text = json.dumps(spec, sort_keys=True, separators=(",", ":"), default=_plain)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _plain(value):
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    return str(value)


def digest(*parts) -> str:
    """SHA-256 (hex) of ``parts``, for cache descriptions: tensors by dtype, shape and bytes (copied to the
    CPU, so a GPU model digests like its CPU copy), modules by their ``state_dict`` (names and values),
    :class:`imckit.core.data.ImageTensors` by images and labels, dataclasses by their fields, mappings by keys
    and values in order, lists and tuples item by item, anything else by its ``repr``."""
    import dataclasses
    from collections.abc import Mapping

    from torch import nn

    sha = hashlib.sha256()

    def walk(value):
        if isinstance(value, torch.Tensor):
            tensor = value.detach().cpu().contiguous()
            sha.update(f"T{tensor.dtype}{tuple(tensor.shape)}".encode())
            sha.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
        elif isinstance(value, nn.Module):
            walk(value.state_dict())
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            sha.update(type(value).__name__.encode() + b"(")
            for f in dataclasses.fields(value):
                sha.update(f.name.encode() + b"=")
                walk(getattr(value, f.name))
            sha.update(b")")
        elif isinstance(value, Mapping):
            sha.update(b"{")
            for key in value:
                sha.update(str(key).encode() + b"\0")
                walk(value[key])
            sha.update(b"}")
        elif isinstance(value, (set, frozenset)):
            walk(sorted(value, key=repr))
        elif isinstance(value, (list, tuple)):
            sha.update(b"[")
            for item in value:
                walk(item)
            sha.update(b"]")
        else:
            sha.update(repr(value).encode() + b"\0")

    walk(list(parts))
    return sha.hexdigest()


def model_data_digest(model, data) -> str:
    """:func:`digest` of a model's state and of an :class:`imckit.core.data.ImageTensors`' images and labels:
    the part of a cache description that says which network was evaluated on which images."""
    return digest(model, data.images, data.labels)


def save_entry(path: str | os.PathLike, key: str, payload: Any) -> Path:
    """Write ``payload`` (anything :func:`torch.save` can write with tensors, dicts, lists, numbers,
    strings) under ``path`` atomically, together with its ``key`` and checksum."""
    if not isinstance(key, str) or not key:
        raise TypeError(f"key must be a non-empty str; got {key!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    blob = buffer.getvalue()
    record = {"format": FORMAT, "key": key, "sha256": hashlib.sha256(blob).hexdigest(),
              "payload": torch.frombuffer(bytearray(blob), dtype=torch.uint8)}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(record, f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_entry(path: str | os.PathLike, key: str) -> Any | None:
    """Read an entry written by :func:`save_entry`; ``None`` if it is absent or cannot be trusted."""
    if not isinstance(key, str) or not key:
        raise TypeError(f"key must be a non-empty str; got {key!r}")
    path = Path(path)
    if not path.is_file():
        return None
    try:
        record = torch.load(path, map_location="cpu", weights_only=True)
        problem = None
        if not isinstance(record, dict) or record.get("format") != FORMAT:
            problem = "unknown format"
        elif record.get("key") != key:
            problem = f"its key {record.get('key')!r} differs from the expected {key!r}"
        else:
            blob = record["payload"].numpy().tobytes()
            if hashlib.sha256(blob).hexdigest() != record.get("sha256"):
                problem = "its checksum does not match"
        if problem is None:
            return torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
    except Exception as err:  # truncated zip, unpickling error, ...
        problem = f"it cannot be read ({type(err).__name__}: {err})"
    warnings.warn(f"ignoring cache file {path}: {problem}; recomputing", RuntimeWarning, stacklevel=2)
    return None


# --------------------------------------------------------------------------------------------------------
# keys that know their code


def _module_file(name: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    return Path(spec.origin)


def _imported_modules(name: str, source: str) -> set[str]:
    """Modules named by the import statements of module ``name`` (absolute names; relative imports
    resolved; ``from package import submodule`` gives the submodule when there is one)."""
    found = set()
    package = name if source and _module_file(name) and _module_file(name).name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parent = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{parent}.{base}" if base else parent
            found.add(base)
            for alias in node.names:
                found.add(f"{base}.{alias.name}")
    return found


@functools.lru_cache(maxsize=None)
def _code_version(modules: tuple[str, ...]) -> str:
    sources: dict[str, str] = {}
    seen: set[str] = set()
    todo = list(modules)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = _module_file(name)
        if path is None:
            continue
        source = path.read_text()
        sources[name] = source
        top = name.split(".")[0]
        todo.extend(m for m in _imported_modules(name, source) if m.split(".")[0] == top and m not in seen)
    digest = hashlib.sha256()
    for name in sorted(sources):  # sorted: the traversal order follows set order, which changes per process
        digest.update(name.encode() + b"\0" + sources[name].encode() + b"\0")
    return digest.hexdigest()[:16]


def code_version(*modules: str) -> str:
    """A short hash of the source of ``modules`` and of every module of the same top-level package that they
    import, transitively (e.g. ``code_version("imckit.search.sensitivity")`` covers the sensitivity table,
    the injection it calls, the devices, cells, quantizer, data and model code). Part of every cache key:
    editing any of that code makes the old entries unreachable. Sources are read once per process."""
    if not modules or not all(isinstance(m, str) and m for m in modules):
        raise ValueError(f"code_version needs one or more module names; got {modules!r}")
    missing = [m for m in modules if _module_file(m) is None]
    if missing:
        raise ValueError(f"code_version: no Python source found for module(s) {missing}")
    return _code_version(tuple(sorted(modules)))


def check_writable(folder: str | os.PathLike) -> Path:
    """Create ``folder`` if needed and check that a file can be written in it
    (:func:`imckit.core.validate.check_writable_dir`); raise :class:`CacheNotWritableError` naming the
    folder (and ``$IMCKIT_CACHE``) otherwise. Called before long computations so that their result is not
    lost at the end."""
    if not isinstance(folder, (str, os.PathLike)):
        raise TypeError(f"cache must be a folder (str or os.PathLike); got {type(folder).__name__}")
    try:
        return check_writable_dir(folder, "cache")
    except ValueError as error:
        raise CacheNotWritableError(f"{error}: the cache folder is not writable; set IMCKIT_CACHE to a writable "
                                    f"folder or pass cache=...") from None


def torch_version() -> str:
    """torch's ``major.minor`` version: part of every cache key (another torch may round differently)."""
    return ".".join(torch.__version__.split("+")[0].split(".")[:2])


def cache_entry(kind: str, description: dict, *, code: str | Sequence[str], cache: str | os.PathLike | None = None,
                name: str = "") -> tuple[str, Path | None]:
    """The key of :func:`cached`'s entry and its file ``<cache>/<kind>/<name><key>.pt`` (``None`` when
    ``cache=""``: no cache). The key covers ``kind``, ``description``, :func:`code_version` of ``code`` and
    :func:`torch_version`."""
    if not isinstance(kind, str) or not kind or "/" in kind:
        raise ValueError(f"kind must be a non-empty name without '/'; got {kind!r}")
    if not isinstance(description, dict):
        raise ValueError(f"description must be a dict; got {type(description).__name__}")
    if not isinstance(name, str) or "/" in name:
        raise ValueError(f"name must be a file-name prefix without '/'; got {name!r}")
    if cache is not None and not isinstance(cache, (str, os.PathLike)):
        raise TypeError(f"cache must be a folder (str or os.PathLike), '' (no cache) or None; got "
                        f"{type(cache).__name__}")
    if not isinstance(code, str) and not (isinstance(code, (list, tuple)) and code
                                          and all(isinstance(m, str) for m in code)):
        raise TypeError(f"code must be a module name or a non-empty list of them; got {code!r}")
    code = (code,) if isinstance(code, str) else tuple(code)
    key = cache_key(_full_description(kind, description, code))
    if cache is not None and str(cache) == "":
        return key, None
    return key, Path(cache_dir() if cache is None else cache) / kind / f"{name}{key}.pt"


def _full_description(kind: str, description: dict, code: tuple[str, ...]) -> dict:
    return {"kind": kind, "description": description, "code": code_version(*code), "torch": torch_version()}


def cached(kind: str, description: dict, compute: Callable[[], Any], *, code: str | Sequence[str],
           cache: str | os.PathLike | None = None, name: str = "",
           accept: Callable[[Any], bool] | None = None) -> tuple[Any, bool]:
    """``compute()``'s value, from the cache when an entry for ``description`` and the current code exists.

    Args:
        kind: the computation's name; also the cache subfolder (``<cache>/<kind>/<name><key>.pt``).
        description: everything else that defines the value (parameters, a digest of model and data, ...),
            JSON-serializable (non-JSON values are keyed by their ``str``).
        compute: computes the value; it must return what :func:`torch.save` writes and a weights-only
            :func:`torch.load` reads back: tensors, numbers, strings, bools, ``None`` and lists, tuples and
            dicts of them (convert result objects with e.g. ``dataclasses.asdict`` first).
        code: the module(s) whose source defines the computation (see :func:`code_version`).
        cache: the cache folder (``None``: :func:`cache_dir`; ``""``: no cache: ``compute()`` runs, nothing is
            read or written).
        name: a prefix of the entry's file name (e.g. what it holds), for people browsing the folder.
        accept: ``accept(value) -> bool``: a stored value it rejects is ignored (with a warning) and recomputed
            (e.g. a checkpoint that does not fit its model).

    Returns ``(value, from_cache)``. The folder's writability is checked before ``compute`` runs. The key is
    :func:`cache_entry`'s. Should the write fail after ``compute`` ran (a full disk), the value is returned
    with a warning rather than lost.
    """
    if not callable(compute):
        raise TypeError(f"compute must be a function of no arguments; got {compute!r}")
    if accept is not None and not callable(accept):
        raise TypeError(f"accept must be None or a function value -> bool; got {accept!r}")
    key, path = cache_entry(kind, description, code=code, cache=cache, name=name)
    if path is None:
        return compute(), False
    entry = load_entry(path, key)
    if entry is not None and isinstance(entry, dict) and "value" in entry:
        if accept is None or accept(entry["value"]):
            return entry["value"], True
        warnings.warn(f"ignoring cache file {path}: its value was not accepted; recomputing", RuntimeWarning,
                      stacklevel=2)
    check_writable(path.parent)  # before the computation: a long run is never lost to an unwritable folder
    value = compute()
    code = (code,) if isinstance(code, str) else tuple(code)
    try:
        save_entry(path, key, {"value": value, "description": _full_description(kind, description, code)})
    except OSError as error:  # written to a temporary first: nothing partial is left under the final name
        warnings.warn(f"could not store the cache file {path} ({error.strerror or error}); the value is returned "
                      "but not cached", RuntimeWarning, stacklevel=2)
    return value, False
