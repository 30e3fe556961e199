"""Timing helpers shared by the benchmarks (not part of the library)."""

import time


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


def table(rows: list[dict]) -> str:
    """A plain-text (Markdown) table of a list of dicts with the same keys."""
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(r[k]) for k in keys) + " |" for r in rows]
    return "\n".join(lines)
