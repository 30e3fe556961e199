"""A notebook's parameters, read from its ``parameters``-tagged cell, and the check of the parameters a run
passes to it.

Every chapter declares its parameters in one cell tagged ``parameters``, one per line, typed, literals only::

    arrays: int = 25  # arrays in the campaign (the paper: 25)
    target_ber: float = 0.04  # BER of a uniform random pattern, in (0, 0.7)
    bit_widths: list[int] = [4, 3]  # weight bits of the quantization table

(``papermill --help-notebook`` shows those types.) :func:`notebook_parameters` reads the cell;
:func:`check_parameters` checks the parameters of a run against it before anything executes: an unknown
name (papermill itself only warns and runs with the defaults) or a value of the wrong type is a
:class:`ParameterError` that names the notebook, the parameter, what is allowed and the value received.

Type rules (the same as :mod:`imckit.core.validate`): ``int`` takes an integer, never a bool or a float;
``float`` takes an integer or a float (an integer is converted), never a bool; ``str`` a string; ``bool``
only ``True`` or ``False``; ``list`` a list or a tuple (a tuple is converted; ``list[int]`` also checks the
items); ``dict`` a mapping. A parameter without an annotation takes the type of its default; a default of
``None`` without an annotation, or an annotation the checker does not know (``Any``), takes anything.
Only the types are checked here: ranges are the library's to check when the notebook calls it.
"""

from __future__ import annotations

import ast
import difflib
import io
import numbers
import tokenize
from dataclasses import dataclass
from pathlib import Path

import nbformat

__all__ = ["ParameterError", "NotebookParameter", "notebook_parameters", "check_parameters", "parse_value",
           "RUNNER_PARAMETERS"]

RUNNER_PARAMETERS = ("profile", "output_dir", "data_root")
"""Names the book's runner passes to every notebook; accepted even where a cell does not declare them."""

_TYPE_WORDS = {"int": "an integer", "float": "a number", "str": "a string", "bool": "True or False",
               "list": "a list", "dict": "a mapping"}
_PLURALS = {"int": "integers", "float": "numbers", "str": "strings", "bool": "booleans", "list": "lists",
            "dict": "mappings"}
_KNOWN = set(_TYPE_WORDS)
_CACHE: dict[Path, tuple[tuple[int, int], dict]] = {}


class ParameterError(ValueError):
    """A run passes a notebook a parameter its ``parameters`` cell does not declare, or a value of the wrong
    type. ``notebook``, ``parameter``, ``value`` and ``allowed`` (the known names, or the expected type) are
    kept as attributes; the message reads ``NOTEBOOK: NAME must be ALLOWED; got VALUE``."""

    def __init__(self, message: str, *, notebook: str = "", parameter: str = "", value: object = None,
                 allowed: object = None):
        super().__init__(message)
        self.notebook = notebook
        self.parameter = parameter
        self.value = value
        self.allowed = allowed


@dataclass(frozen=True)
class NotebookParameter:
    """One line of a ``parameters`` cell.

    Attributes:
        name: the variable name.
        type: the base type, ``"int"``, ``"float"``, ``"str"``, ``"bool"``, ``"list"``, ``"dict"``, or
            ``"any"`` (no check: a ``None`` default without annotation, or an annotation not listed here).
        default: the literal default value.
        help: the line's comment.
        annotation: the annotation as written (``"list[int]"``), ``""`` where the line has none.
        items: the item type of a ``list[...]`` annotation (``"int"``), or ``None``.
        optional: ``None`` is allowed too (``Optional[int]``, ``int | None`` or a ``None`` default).
    """

    name: str
    type: str
    default: object
    help: str
    annotation: str = ""
    items: str | None = None
    optional: bool = False


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _type_of_default(value) -> str:
    if value is None:
        return "any"
    for name, kind in (("bool", bool), ("int", int), ("float", float), ("str", str), ("list", (list, tuple)),
                       ("dict", dict)):
        if isinstance(value, kind):
            return name
    return "any"


def _parse_annotation(node: ast.expr | None) -> tuple[str, str | None, bool]:
    """(base type, item type, optional) of an annotation node; ("", None, False) when there is none."""
    if node is None:
        return "", None, False
    if isinstance(node, ast.Constant) and isinstance(node.value, str):  # a quoted annotation
        try:
            node = ast.parse(node.value, mode="eval").body
        except SyntaxError:
            return "any", None, False
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):  # X | None
        sides = [node.left, node.right]
        rest = [s for s in sides if not (isinstance(s, ast.Constant) and s.value is None)]
        if len(rest) == 1:
            base, items, _ = _parse_annotation(rest[0])
            return base, items, True
        return "any", None, False
    if isinstance(node, ast.Subscript):
        outer = ast.unparse(node.value).split(".")[-1]
        if outer == "Optional":
            base, items, _ = _parse_annotation(node.slice)
            return base, items, True
        outer = {"List": "list", "Tuple": "list", "tuple": "list", "Sequence": "list", "Dict": "dict",
                 "Mapping": "dict"}.get(outer, outer)
        if outer == "list":
            inner = node.slice if not isinstance(node.slice, ast.Tuple) else None
            items = _parse_annotation(inner)[0] if inner is not None else None
            return "list", items if items in _KNOWN else None, False
        return (outer if outer in _KNOWN else "any"), None, False
    name = ast.unparse(node).split(".")[-1]
    name = {"List": "list", "tuple": "list", "Tuple": "list", "Dict": "dict"}.get(name, name)
    return (name if name in _KNOWN else "any"), None, False


def _comments(source: str) -> dict[int, str]:
    """The comment of each line (1-based line number -> text after ``#``)."""
    comments = {}
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.COMMENT:
                comments[token.start[0]] = token.string.lstrip("#").strip()
    except (tokenize.TokenError, IndentationError):
        pass
    return comments


def _parameters_cell(nb) -> str | None:
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            return cell.source
    return None


def _parse_cell(source: str, label: str) -> dict[str, NotebookParameter]:
    try:
        tree = ast.parse(source)
    except SyntaxError as error:
        raise ParameterError(f"{label}: the parameters cell is not valid Python ({error.msg}, line {error.lineno})",
                             notebook=label) from None
    comments = _comments(source)
    found = {}
    for statement in tree.body:
        if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name) \
                and statement.value is not None:
            name, annotation, value = statement.target.id, statement.annotation, statement.value
        elif isinstance(statement, ast.Assign) and len(statement.targets) == 1 \
                and isinstance(statement.targets[0], ast.Name):
            name, annotation, value = statement.targets[0].id, None, statement.value
        else:
            continue  # not a parameter line (an import, a bare annotation, ...)
        try:
            default = ast.literal_eval(value)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            raise ParameterError(f"{label}: parameter {name} must have a literal default (papermill does not "
                                 f"re-evaluate expressions); got {ast.unparse(value)}", notebook=label,
                                 parameter=name, value=ast.unparse(value), allowed="a literal") from None
        base, items, optional = _parse_annotation(annotation)
        if not base:
            base = _type_of_default(default)
        optional = optional or default is None
        found[name] = NotebookParameter(
            name=name, type=base, default=default, help=comments.get(statement.end_lineno, ""),
            annotation=ast.unparse(annotation) if annotation is not None else "", items=items, optional=optional,
        )
    return found


def notebook_parameters(notebook: str | Path) -> dict[str, NotebookParameter]:
    """The parameters the notebook's ``parameters``-tagged cell declares, in the cell's order.

    Read with :mod:`ast` (defaults are the literal values, comments the help); cached per file and
    modification time. A notebook without such a cell has no parameters (an empty dict).

    Raises:
        ParameterError: the notebook is missing, or its parameters cell is not valid Python or has a
            default that is not a literal.
    """
    path = Path(notebook).resolve()
    try:
        stat = path.stat()
    except OSError:
        raise ParameterError(f"notebook must be an existing .ipynb file; got {str(notebook)!r}",
                             notebook=str(notebook)) from None
    key = (stat.st_mtime_ns, stat.st_size)
    cached = _CACHE.get(path)
    if cached is not None and cached[0] == key:
        return dict(cached[1])
    source = _parameters_cell(nbformat.read(path, as_version=4))
    found = _parse_cell(source, path.name) if source is not None else {}
    _CACHE[path] = (key, found)
    return dict(found)


def _allowed(parameter: NotebookParameter) -> str:
    words = _TYPE_WORDS.get(parameter.type, parameter.type)
    if parameter.type == "list" and parameter.items:
        words = f"a list of {_PLURALS[parameter.items]}"
    if parameter.optional:
        words += " or None"
    return f"{words} ({parameter.annotation or parameter.type}, as its parameters cell declares)"


def _convert(value, kind: str):
    """``value`` as ``kind`` (ints become floats, tuples lists), or raise ``TypeError``."""
    if kind == "any":
        return value
    if kind == "int" and isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    if kind == "float" and isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value) if isinstance(value, numbers.Integral) else value
    if kind == "str" and isinstance(value, str):
        return value
    if kind == "bool" and isinstance(value, bool):
        return value
    if kind == "list" and isinstance(value, (list, tuple)):
        return list(value)
    if kind == "dict" and isinstance(value, dict):
        return value
    raise TypeError(kind)


def _check_value(parameter: NotebookParameter, value, label: str):
    if value is None and parameter.optional:
        return None
    try:
        value = _convert(value, parameter.type)
        if parameter.type == "list" and parameter.items:
            value = [_convert(item, parameter.items) for item in value]
    except TypeError:
        raise ParameterError(f"{label}: {parameter.name} must be {_allowed(parameter)}; got {_show(value)}",
                             notebook=label, parameter=parameter.name, value=value,
                             allowed=parameter.annotation or parameter.type) from None
    return value


def check_parameters(notebook: str | Path, parameters: dict, *,
                     allow: tuple[str, ...] = RUNNER_PARAMETERS) -> dict:
    """Check a run's ``parameters`` against the notebook's ``parameters`` cell, before it runs.

    Args:
        notebook: the source notebook (``.ipynb``).
        parameters: name -> value, as papermill would inject them.
        allow: names accepted although the cell may not declare them (what the book's runner passes to
            every notebook); where the cell does declare them, their type is checked too.

    Returns:
        The parameters, in the given order, with ints given for floats made floats and tuples lists.

    Raises:
        ParameterError: a name the cell does not declare (the message lists the declared names and a
            close match), or a value whose type differs from the declared one.
    """
    if not isinstance(parameters, dict):
        raise ParameterError(f"parameters must be a mapping of name to value; got {_show(parameters)}",
                             notebook=Path(notebook).name, parameter="parameters", value=parameters,
                             allowed="a mapping")
    label = Path(notebook).name
    declared = notebook_parameters(notebook)
    checked = {}
    for name, value in parameters.items():
        if name in declared:
            checked[name] = _check_value(declared[name], value, label)
        elif name in allow:
            checked[name] = value
        else:
            known = sorted(declared)
            close = difflib.get_close_matches(str(name), known + [a for a in allow if a not in declared], n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            names = ", ".join(known) if known else "none: the notebook has no parameters cell"
            raise ParameterError(
                f"{label}: unknown parameter {name!r} (= {_show(value)}){hint}; a parameter must be one the "
                f"notebook's parameters cell declares: {names}",
                notebook=label, parameter=str(name), value=value, allowed=known)
    return checked


_WORDS = {"true": True, "false": False}


def parse_value(notebook: str | Path, name: str, text: str):
    """A command-line value (``-p NAME TEXT``) read as the type the notebook declares for ``name``.

    ``int`` and ``float`` parse numbers; ``str`` keeps the text as it is; ``bool`` takes ``True``/``False``
    (any case); ``list`` and ``dict`` parse YAML/JSON (``[4, 3]``). A name the cell does not declare, or
    a type it does not know, falls back to papermill's own rule (True/False/None, int, float, else the
    text). A text that does not parse is a :class:`ParameterError` (raised later by
    :func:`check_parameters` for an unknown name).
    """
    import yaml

    declared = notebook_parameters(notebook).get(name)
    kind = declared.type if declared else "any"
    label = Path(notebook).name
    if declared and declared.optional and text in ("None", "null"):
        return None
    try:
        if kind == "str":
            return text
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
        if kind == "bool":
            return _WORDS[text.lower()]
        if kind in ("list", "dict"):
            value = yaml.safe_load(text)
            return value
    except (ValueError, KeyError, yaml.YAMLError):
        raise ParameterError(f"{label}: {name} must be {_allowed(declared)}; got {text!r}", notebook=label,
                             parameter=name, value=text, allowed=declared.annotation or declared.type) from None
    # papermill's rule for -p values
    if text in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[text]
    for kind_ in (int, float):
        try:
            return kind_(text)
        except ValueError:
            pass
    return text
