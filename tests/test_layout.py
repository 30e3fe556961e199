"""The package layout shows the data path: each package imports only from the packages above it."""

import ast
from pathlib import Path

import imckit

PACKAGE = Path(imckit.__file__).parent

# Level of each part of the kit (a module may import from a lower level or from its own package).
LEVELS = {
    "core": 0,
    "quantization": 1,
    "memory": 2,
    "injection": 3,
    "search": 4, "compensation": 4, "crossbars": 4, "qat": 4,  # the seed papers' methods, side by side
    "book.plots": 5,  # figures: may draw any method's results
    "papers": 5,  # the papers' numbers and the verdicts on them
    "experiments": 6,
    "book": 7,
}


def _unit(module: str) -> str:
    parts = module.split(".")[1:]
    if len(parts) >= 2 and ".".join(parts[:2]) in LEVELS:
        return ".".join(parts[:2])
    return parts[0] if parts else ""


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("imckit.") and not node.level:
            yield node.module, node.lineno
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("imckit."):
                    yield alias.name, node.lineno


def test_every_package_has_a_level_and_a_docstring():
    packages = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file())
    assert set(packages) <= set(LEVELS), f"packages without a level: {set(packages) - set(LEVELS)}"
    for name in packages:
        assert ast.get_docstring(ast.parse((PACKAGE / name / "__init__.py").read_text())), name
    assert not [p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py"], "no flat modules at the top"


def test_imports_go_one_way():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = "imckit." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        if path.name == "__init__.py" or path.name == "__main__.py":
            continue  # re-exports of the package's own modules and the command line
        here = _unit(module)
        for target, line in _imports(path):
            there = _unit(target)
            if there == here or target.split(".")[1] == module.split(".")[1] and there not in LEVELS:
                continue
            if LEVELS[there] >= LEVELS[here] and not (here == "book" and there == "book.plots"):
                wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {target} ({here} -> {there})")
    assert not wrong, "imports against the layout:\n" + "\n".join(wrong)
