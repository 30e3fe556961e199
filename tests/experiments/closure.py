"""What a cache key's code version covers: the kit's modules a module imports, transitively (the same walk
as :func:`imckit.core.cache.code_version`, written out here so that the tests do not lean on its
internals)."""

import ast
import importlib.util


def _source(name: str) -> str | None:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    with open(spec.origin) as f:
        return f.read()


def covered_modules(name: str) -> set[str]:
    """``name`` and every ``imckit`` module it imports, directly or through other ``imckit`` modules (imports
    inside functions included)."""
    seen, todo = set(), [name]
    while todo:
        module = todo.pop()
        source = _source(module)
        if module in seen or source is None:
            continue
        seen.add(module)
        for node in ast.walk(ast.parse(source)):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            todo += [n for n in names if n.startswith("imckit.")]
    return seen


def chapter_modules(name: str) -> set[str]:
    """The chapter modules (``imckit.experiments.<chapter>``, sentences and plots) and book modules a cached
    computation keyed by ``name`` would depend on: none, by the cache rule of the chapters."""
    return {m for m in covered_modules(name)
            if m.startswith("imckit.book") or (m.startswith("imckit.experiments.") and not m.endswith("_steps"))}
