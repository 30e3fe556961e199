"""Timing and reporting helpers shared by the benchmarks (not part of the library).

Every benchmark shows its results through :func:`report`, which prints a table and records it;
``run_all.py`` writes the recorded tables to ``benchmarks/out/results.json`` with the date, the commit and
the machine, and ``update_readme.py`` turns that file into the README's speed section. So no number in
that section is typed by hand (``tests/benchmarks`` checks that every ``bench_*.py`` reports this way).
"""

import time

# the tables reported since the last take_recorded(): {"title", "note", "columns", "rows"}
_RECORDED: list[dict] = []


def seconds(fn, repeat: int = 3, warmup: int = 1) -> float:
    """Best wall-clock time of ``fn()`` over ``repeat`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _cell(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def table(rows: list[dict]) -> str:
    """A Markdown table of a list of dicts with the same keys (the columns, in the first row's order)."""
    keys = list(rows[0])
    lines = ["| " + " | ".join(_cell(k) for k in keys) + " |", "|" + " --- |" * len(keys)]
    lines += ["| " + " | ".join(_cell(r[k]) for k in keys) + " |" for r in rows]
    return "\n".join(lines)


def report(title: str, rows: list[dict], note: str = "") -> str:
    """Print a benchmark's result table and record it for ``results.json`` and the README.

    Args:
        title: what the table shows, in one line (the README prints it above the table).
        rows: the table, one dict per row with the same keys in the same order (the column names); the
            values are shown as ``str(value)``, so format numbers as they should read.
        note: the run's conditions in a sentence or two (sizes, threads, baseline, agreement of the two
            paths), printed with the title and kept with the table.

    Returns:
        The Markdown table.

    Raises:
        ValueError: for an empty title, no rows, or rows whose keys differ from the first row's.
    """
    if not isinstance(title, str) or not title.strip():
        raise ValueError(f"title must be a non-empty string; got {title!r}")
    if not rows:
        raise ValueError(f"rows must hold at least one row; got {rows!r}")
    columns = list(rows[0])
    for i, row in enumerate(rows):
        if list(row) != columns:
            raise ValueError(f"rows must all have the columns {columns} in that order; row {i} has {list(row)}")
    markdown = table(rows)
    print(f"\n### {title}\n" + (f"\n{note}\n" if note else "") + f"\n{markdown}\n", flush=True)
    _RECORDED.append({"title": title, "note": note, "columns": [str(c) for c in columns],
                      "rows": [[str(row[c]) for c in columns] for row in rows]})
    return markdown


def take_recorded() -> list[dict]:
    """The tables reported since the last call (and forget them)."""
    tables = list(_RECORDED)
    _RECORDED.clear()
    return tables
