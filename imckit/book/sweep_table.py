"""The sweep's records and its one table: glued values read from executed notebooks, atomic files.

Every point of a sweep (:mod:`imckit.book.sweep`) leaves a ``record.json``: its parameters, status and
error, wall time, code version, versions, and the values the executed notebook glued (myst-nb ``glue``:
numbers and short strings; figures and tables are left out). :func:`build_table` makes one tidy table of
them, one row per point, ready for pandas or seaborn; :func:`write_table` writes it as CSV and Parquet.
"""

from __future__ import annotations

import ast
import json
import os
import tempfile
from pathlib import Path

from imckit.book.plots import seed_summary  # noqa: F401 -- the table's summary across seeds, drawn by sweep_band

__all__ = ["RECORD_FILE", "read_glued", "parse_glued", "read_record", "write_json_atomic", "build_table",
           "write_table", "load_table", "seed_summary"]

RECORD_FILE = "record.json"
MAX_TEXT = 80  # longest glued string kept in the table (longer ones are sentences or records)
RECORD_COLUMNS = ("point", "notebook", "status", "profile")
TAIL_COLUMNS = ("wall_s", "cells_s", "error", "key", "code_version", "commit", "dirty", "python", "imckit",
                "torch", "papermill", "host", "worker", "threads", "started")


def parse_glued(text: str, max_chars: int = MAX_TEXT):
    """A glued value as the table keeps it: a number (``"1,575"`` -> 1575.0, ``"4.00"`` -> 4.0), a short
    string (``"n/a"``), or ``None`` for anything else (a long text, a structure)."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        value = text
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if not isinstance(value, str):
        return None
    stripped = value.strip()
    try:
        return float(stripped.replace(",", "")) if stripped else None
    except ValueError:
        return stripped if len(stripped) <= max_chars else None


def read_glued(notebook, max_chars: int = MAX_TEXT) -> dict:
    """The numbers and short strings an executed notebook (path or nbformat node) glued, by glue name.

    A glued figure, table or other rich output (any MIME type besides plain text) is left out, and so is
    text longer than ``max_chars`` or not a number or string (:func:`parse_glued`).
    """
    import nbformat

    nb = nbformat.read(str(notebook), as_version=4) if isinstance(notebook, (str, Path)) else notebook
    found = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            scrap = output.get("metadata", {}).get("scrapbook", {})
            name = scrap.get("name")
            if not name:
                continue
            prefix = scrap.get("mime_prefix", "application/papermill.record/")
            kinds = {k.removeprefix(prefix) for k in output.get("data", {})}
            if kinds != {"text/plain"}:
                continue
            data = output["data"]
            value = parse_glued(data.get(prefix + "text/plain", data.get("text/plain", "")), max_chars)
            if value is not None:
                found[name] = value
    return found


def write_json_atomic(path: str | Path, data: dict) -> Path:
    """Write ``data`` as JSON to ``path`` through a temporary file and a rename: a reader sees the old file
    or the whole new one, never a part."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1, default=str)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_record(path: str | Path, key: str | None = None) -> dict | None:
    """A point's record, or ``None`` when it is missing, unreadable or belongs to another key."""
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("status") not in ("ok", "failed"):
        return None
    if key is not None and record.get("key") != key:
        return None
    return record


def _cell(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return json.dumps(value, default=str)


def build_table(records: list[dict], swept=()):
    """One row per point: ``point`` (the point's folder name), ``notebook``, ``status``, ``profile``, the
    parameters (swept ones first), the glued values (a glued name equal to a parameter's gets a ``glue:``
    prefix), then the run record (wall and cell seconds, error, key, code version, commit, versions, host,
    worker, start time). Columns whose values are all numbers are numeric; the others hold strings."""
    import pandas as pd

    rows, parameter_names, glued_names = [], {n: None for n in swept}, {}
    for record in records:
        parameter_names.update(dict.fromkeys(record.get("parameters", {})))
        glued_names.update(dict.fromkeys(record.get("glued", {})))
    parameter_names.pop("profile", None)
    for record in records:
        row = {"point": f"{record['notebook']}-{record['key']}", "notebook": record["notebook"],
               "status": record["status"], "profile": record.get("profile")}
        params = record.get("parameters", {})
        row.update({n: _cell(params.get(n)) for n in parameter_names})
        for name in glued_names:
            column = f"glue:{name}" if name in row else name
            row[column] = _cell(record.get("glued", {}).get(name))
        versions = record.get("versions") or {}
        tail = {**record, **{k: versions.get(k) for k in ("python", "imckit", "torch", "papermill")}}
        row.update({c: _cell(tail.get(c)) for c in TAIL_COLUMNS})
        rows.append(row)
    columns = list(RECORD_COLUMNS) + list(parameter_names)
    columns += [f"glue:{n}" if n in columns else n for n in glued_names] + list(TAIL_COLUMNS)
    frame = pd.DataFrame(rows, columns=columns)
    for column in frame.columns:
        values = [v for v in frame[column] if v is not None and not (isinstance(v, float) and v != v)]
        if values and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            frame[column] = pd.to_numeric(frame[column])
        elif values and all(isinstance(v, bool) for v in values):
            frame[column] = frame[column].astype("boolean")
        elif values:
            frame[column] = frame[column].map(lambda v: None if v is None or (isinstance(v, float) and v != v)
                                              else str(v)).astype("string")
    return frame


def write_table(table, out: str | Path) -> tuple[Path, Path]:
    """Write ``table`` to ``out/table.csv`` and ``out/table.parquet`` (each through a temporary file)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, write in (("table.csv", lambda p: table.to_csv(p, index=False)),
                        ("table.parquet", lambda p: table.to_parquet(p, index=False))):
        final = out / name
        partial = out / f".{name}.part"
        write(partial)
        os.replace(partial, final)
        paths.append(final)
    return paths[0], paths[1]


def load_table(out: str | Path):
    """The table a sweep wrote to ``out`` (its Parquet file)."""
    import pandas as pd

    return pd.read_parquet(Path(out) / "table.parquet")
