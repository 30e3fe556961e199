"""The seed papers' numbers as data: one YAML file per paper in ``imckit/papers/data/``.

Each file (``seedNNN.yaml``) lists every quantitative result of its paper that a chapter addresses:
table cells, figure read-outs stated in the text, headline claims of the abstract and conclusion. A claim
records what the paper says, where (table, row, column, section, a short exact quote), in which setting
(network, dataset, bits), and which comparison with the kit makes sense::

    paper: "001"
    source: 001_02576e869565baa8.txt      # the file in shared/seeds
    citation: chen2025sensitivity         # key in book/references.bib
    title: "Sensitivity-Aware Mixed-Precision Quantization for ReRAM-based Computing-in-Memory"
    setting: {network: ResNet-18, dataset: CIFAR-10}   # the paper's usual setting
    claims:
      - id: table2-resnet18-accuracy      # [a-z0-9-], unique in the file; full id "001/table2-resnet18-accuracy"
        chapter: hessian                  # the chapter whose verdict table shows it
        claim: "..."                      # one line: what the paper states
        value: -0.4                       # number | mapping name -> number | list (an order, best first)
        unit: pts
        where: {table: "Table 2", row: "...", column: "...", section: "5.2", quote: "..."}
        setting: {bits: "4/8 mixed"}      # keys that differ from the paper's usual setting
        compare: {kind: value, tolerance: 1.0, signed: true}
        # or {kind: bound, side: at least, tolerance: 0.5}: a one-sided claim ("loses at most 3 points")

``compare.kind`` is one of :data:`KINDS`; its options are checked here and explained in
:mod:`imckit.papers.verdict`. Files are validated when loaded: a malformed file is an error naming the
file, the claim and the field, never a claim that silently compares nothing.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from imckit.core.validate import check_choice

DATA = Path(__file__).resolve().parent / "data"
KINDS = ("value", "bound", "direction", "order", "ranking", "qualitative")
SETTING_KEYS = ("network", "dataset", "bits", "device", "training", "other")
WHERE_KEYS = ("table", "figure", "row", "column", "section", "quote", "equation", "algorithm")
COMPARE_KEYS = {
    "value": {"tolerance", "signed", "why"},
    "bound": {"tolerance", "side", "why"},
    "direction": {"tolerance", "why"},
    "order": {"tolerance", "higher_is_better", "why"},
    "ranking": {"min_rho", "higher_is_better", "why"},
    "qualitative": {"why"},
}
_ID = re.compile(r"[a-z0-9][a-z0-9-]*")


class ClaimError(ValueError):
    """A paper's data file is malformed."""


@dataclass(frozen=True)
class Comparison:
    """How a claim is compared with the kit (see :mod:`imckit.papers.verdict`).

    Attributes:
        kind: one of :data:`KINDS`.
        tolerance: ``value``: largest |kit - paper| that counts as reproduced, in the claim's unit;
            ``direction``: the noise margin the kit's effect must exceed; ``order``: kit values closer than
            it are ties. 0 where not given.
        signed: ``value`` only: a miss of the paper's sign counts as "same direction".
        min_rho: ``ranking`` only: Spearman rho at or above it is "reproduced" (default 0.7).
        higher_is_better: ``order``/``ranking`` given as a mapping: whether larger values rank first.
        side: ``bound`` only: ``"at least"`` (the paper's claim is a floor, e.g. "loses only 3 points":
            a change of at least -3) or ``"at most"`` (a ceiling).
        why: ``qualitative`` (required): why only a qualitative comparison makes sense; otherwise optional.
    """

    kind: str
    tolerance: float = 0.0
    signed: bool = False
    min_rho: float = 0.7
    higher_is_better: bool = True
    why: str = ""
    side: str = ""


@dataclass(frozen=True)
class Claim:
    """One quantitative result of a seed paper (see the module docstring for the file format).

    Attributes:
        paper: the paper's number, e.g. ``"001"``.
        id: the claim's id within the paper; :attr:`key` is ``"paper/id"``.
        chapter: the chapter (notebook name) whose verdict table shows it.
        claim: what the paper states, one line.
        value: a number, a mapping name -> number, or a tuple (an order, best first).
        unit: the value's unit (``"%"``, ``"pts"``, ``"x"``, ``""``...).
        where: table, row, column, section, quote... (strings).
        setting: the paper's setting for this claim (its usual setting with the claim's overrides).
        compare: the comparison that makes sense.
    """

    paper: str
    id: str
    chapter: str
    claim: str
    value: Any
    unit: str
    where: Mapping[str, str]
    setting: Mapping[str, str]
    compare: Comparison

    @property
    def key(self) -> str:
        return f"{self.paper}/{self.id}"

    @property
    def source(self) -> str:
        """Where the claim stands, in words: ``"Table 2, row ResNet-18, column Acc. (Sec. 5.2)"``."""
        parts = [self.where[k] if k in ("table", "figure", "equation", "algorithm") else f"{k} {self.where[k]}"
                 for k in ("table", "figure", "equation", "algorithm", "row", "column") if self.where.get(k)]
        text = ", ".join(parts)
        if self.where.get("section"):
            text = f"{text} (Sec. {self.where['section']})" if text else f"Sec. {self.where['section']}"
        return text


@dataclass(frozen=True)
class Paper:
    """A seed paper's data file: its identity, usual setting and claims."""

    paper: str
    source: str
    citation: str
    title: str
    setting: Mapping[str, str]
    claims: tuple[Claim, ...] = field(default_factory=tuple)


def _fail(where: str, message: str):
    raise ClaimError(f"{where}: {message}")


def _number(where: str, name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        _fail(where, f"{name} must be a finite number, got {value!r}")
    return float(value)


def _strings(where: str, name: str, value, allowed) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        _fail(where, f"{name} must be a mapping, got {type(value).__name__}")
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        _fail(where, f"{name} has unknown key(s) {unknown}; allowed: {list(allowed)}")
    return {str(k): str(v) for k, v in value.items()}


def _value(where: str, kind: str, value):
    if kind == "qualitative" and value is None:
        return None
    if isinstance(value, Mapping):
        if not value:
            _fail(where, "value must not be an empty mapping")
        return {str(k): _number(where, f"value[{k!r}]", v) for k, v in value.items()}
    if isinstance(value, list):
        if len(value) < 2 or len(set(map(str, value))) != len(value):
            _fail(where, f"an order must list at least two distinct names, got {value!r}")
        return tuple(str(v) for v in value)
    if isinstance(value, str) and kind == "qualitative":
        return value
    return _number(where, "value", value)


def _comparison(where: str, raw, value) -> Comparison:
    if not isinstance(raw, Mapping) or "kind" not in raw:
        _fail(where, "compare must be a mapping with a kind")
    kind = raw["kind"]
    if kind not in KINDS:
        _fail(where, f"compare.kind must be one of {KINDS}, got {kind!r}")
    unknown = sorted(set(raw) - {"kind"} - COMPARE_KEYS[kind])
    if unknown:
        _fail(where, f"compare has option(s) {unknown} that kind {kind!r} does not take; it takes "
                     f"{sorted(COMPARE_KEYS[kind])}")
    tolerance = _number(where, "compare.tolerance", raw.get("tolerance", 0.0))
    if tolerance < 0:
        _fail(where, f"compare.tolerance must be >= 0, got {tolerance}")
    min_rho = _number(where, "compare.min_rho", raw.get("min_rho", 0.7))
    if not -1.0 <= min_rho <= 1.0:
        _fail(where, f"compare.min_rho must lie in [-1, 1], got {min_rho}")
    for flag in ("signed", "higher_is_better"):
        if flag in raw and not isinstance(raw[flag], bool):
            _fail(where, f"compare.{flag} must be true or false, got {raw[flag]!r}")
    why = str(raw.get("why", ""))
    if kind == "qualitative" and not why.strip():
        _fail(where, "a qualitative comparison needs compare.why (why no closer comparison makes sense)")
    side = str(raw.get("side", ""))
    if kind == "bound" and side not in ("at least", "at most"):
        _fail(where, f"a bound needs compare.side 'at least' or 'at most', got {side!r}")
    if kind in ("value", "bound", "direction") and not isinstance(value, float):
        _fail(where, f"kind {kind!r} needs a number as value, got {value!r}")
    if kind == "direction" and value == 0:
        _fail(where, "kind 'direction' needs a non-zero value (its sign is the direction)")
    if kind == "order" and not isinstance(value, (tuple, dict)):
        _fail(where, f"kind 'order' needs a list (best first) or a mapping as value, got {value!r}")
    if kind == "ranking" and (not isinstance(value, dict) or len(value) < 3):
        _fail(where, f"kind 'ranking' needs a mapping of at least three entries as value, got {value!r}")
    return Comparison(kind=kind, tolerance=tolerance, signed=bool(raw.get("signed", False)), min_rho=min_rho,
                      higher_is_better=bool(raw.get("higher_is_better", True)), why=why, side=side)


def parse_paper(raw: Mapping, name: str = "<data>") -> Paper:
    """A :class:`Paper` from a parsed data file; ``name`` names the file in errors."""
    if not isinstance(raw, Mapping):
        _fail(name, "the file must hold a mapping")
    for key in ("paper", "source", "citation", "title", "claims"):
        if key not in raw:
            _fail(name, f"missing {key!r}")
    paper = str(raw["paper"])
    if not re.fullmatch(r"\d{3}", paper):
        _fail(name, f"paper must be three digits like '001', got {paper!r}")
    setting = _strings(name, "setting", raw.get("setting"), SETTING_KEYS)
    if not isinstance(raw["claims"], list) or not raw["claims"]:
        _fail(name, "claims must be a non-empty list")
    claims, seen = [], set()
    for index, item in enumerate(raw["claims"]):
        where = f"{name}, claim {index + 1}"
        if not isinstance(item, Mapping):
            _fail(where, "a claim must be a mapping")
        unknown = sorted(set(item) - {"id", "chapter", "claim", "value", "unit", "where", "setting", "compare"})
        if unknown:
            _fail(where, f"unknown field(s) {unknown}")
        for key in ("id", "chapter", "claim", "compare"):
            if key not in item:
                _fail(where, f"missing {key!r}")
        claim_id = str(item["id"])
        where = f"{name}, claim {claim_id!r}"
        if not _ID.fullmatch(claim_id):
            _fail(where, "id must match [a-z0-9][a-z0-9-]*")
        if claim_id in seen:
            _fail(where, "id is used twice")
        seen.add(claim_id)
        kind = item["compare"].get("kind") if isinstance(item["compare"], Mapping) else None
        if "value" not in item and kind != "qualitative":
            _fail(where, "missing 'value'")
        value = _value(where, kind, item.get("value"))
        claims.append(Claim(
            paper=paper, id=claim_id, chapter=str(item["chapter"]), claim=str(item["claim"]).strip(),
            value=value, unit=str(item.get("unit", "") or ""),
            where=_strings(where, "where", item.get("where"), WHERE_KEYS),
            setting={**setting, **_strings(where, "setting", item.get("setting"), SETTING_KEYS)},
            compare=_comparison(where, item["compare"], value)))
    return Paper(paper=paper, source=str(raw["source"]), citation=str(raw["citation"]), title=str(raw["title"]),
                 setting=setting, claims=tuple(claims))


def load_paper_file(path: str | Path) -> Paper:
    """Read and validate one data file."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ClaimError(f"{path.name}: not valid YAML: {error}") from None
    return parse_paper(raw, path.name)


@functools.lru_cache(maxsize=None)
def papers(folder: str = str(DATA)) -> dict[str, Paper]:
    """Every paper's data file in ``folder`` (default: the package's), by paper number."""
    found = {}
    for path in sorted(Path(folder).glob("seed*.yaml")):
        paper = load_paper_file(path)
        if paper.paper in found:
            raise ClaimError(f"{path.name}: paper {paper.paper} has two data files")
        found[paper.paper] = paper
    return found


def load_claims(chapter: str | None = None, paper: str | None = None) -> list[Claim]:
    """The claims of every paper (or of ``paper``) that ``chapter`` shows (every chapter when ``None``)."""
    known = papers()
    if paper is not None:
        check_choice(str(paper), "paper", sorted(known))
    claims = [c for p in known.values() if paper is None or p.paper == str(paper) for c in p.claims]
    if chapter is not None:
        claims = [c for c in claims if c.chapter == chapter]
    return claims


def get_claim(key: str) -> Claim:
    """The claim with full id ``"paper/id"``, e.g. ``"000/table2-solution2-saving"``."""
    paper, _, claim_id = str(key).partition("/")
    known = papers()
    if paper not in known:
        raise ValueError(f"claim key must start with a paper number, one of {sorted(known)}, got {key!r}")
    for claim in known[paper].claims:
        if claim.id == claim_id:
            return claim
    raise ValueError(f"paper {paper} has no claim {claim_id!r}; its claims: {[c.id for c in known[paper].claims]}")
