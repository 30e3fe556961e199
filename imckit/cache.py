"""Content-addressed on-disk caches, written atomically and validated when read.

A cache entry is keyed by a canonical JSON description of everything that defines it (:func:`cache_key`).
It is written to a temporary file in the same folder, flushed to disk and renamed into place, so an
interrupted run never leaves a half-written entry under the final name. Each file stores its key and a
SHA-256 of its payload; :func:`load_entry` returns ``None`` (and warns) for a missing, truncated, corrupted
or mismatched file, so the caller recomputes instead of trusting it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch

FORMAT = "imckit-cache-v1"


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
    """A stable hex key for a JSON-serializable description (dict order does not matter)."""
    text = json.dumps(spec, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def model_data_digest(model, data) -> str:
    """SHA-256 of a model's state (names and values) and of an :class:`imckit.data.ImageTensors`' images and
    labels: the part of a cache description that says which network was evaluated on which images."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().contiguous().numpy().tobytes())
    for tensor in (data.images, data.labels):
        digest.update(tensor.contiguous().numpy().tobytes())
    return digest.hexdigest()


def save_entry(path: str | os.PathLike, key: str, payload: Any) -> Path:
    """Write ``payload`` (anything :func:`torch.save` can write with tensors, dicts, lists, numbers,
    strings) under ``path`` atomically, together with its ``key`` and checksum."""
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
