"""Paper vs this kit: each chapter's verdict table, the book's scorecard, and the check on agreement sentences.

A chapter builds a :class:`Scorecard`, adds the kit's value for every claim of its papers that it
addresses (:func:`imckit.papers.claims.load_claims`), shows :meth:`Scorecard.table` and calls
:meth:`Scorecard.glue`, which glues the table's record under :data:`RECORD_NAME`. A sentence that says the
kit agrees or disagrees with a paper comes only from :meth:`Scorecard.sentence`, which picks the variant
for the verdict the numbers gave. The scorecard page (:func:`collect`) reads the records back from the
executed chapters; :func:`agreement_problems` is the test that no chapter says more than its table.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from imckit.papers.claims import Claim, get_claim, load_claims, papers
from imckit.papers.verdict import VERDICTS, Verdict, describe_value, verdict

RECORD_NAME = "scorecard_record"
SENTENCE_PREFIX = "says_"
COLUMNS = ("claim", "paper", "kit", "setting difference", "verdict", "reason")

# Words that state agreement or disagreement with a paper's result. A chapter's own prose (markdown and
# glued text other than Scorecard.sentence's) must not contain them; describing a *method* ("reproduces
# the search of Sec. IV") is not caught because the patterns need a result-like object or the paper.
AGREEMENT = re.compile(
    r"\b(?:(?:agree(?:s|d|ment)?|in\s+(?:line|agreement))\s+with\s+(?:the\s+paper|the\s+authors|its\s+(?:table|fig|"
    r"result|value|number|claim)|their|table|fig|[\w-]+\s+et\s+al)|consistent\s+with\s+(?:the\s+paper|its|their|"
    r"table|fig)|match(?:es|ed)?\s+(?:the\s+paper|its\s+(?:table|result|value|number)|their)|confirm(?:s|ed)?\s+"
    r"(?:the\s+paper|its|their)|as\s+the\s+paper\s+(?:reports|finds|found|shows|showed|claims)|"
    r"(?:unlike|contrary\s+to)\s+the\s+paper|disagree\w*|reproduc(?:es|ed)\s+the\s+paper'?s?\s+(?:result|finding|"
    r"claim|number|value|order|ranking|table)|(?:the\s+)?paper'?s\s+(?:result|finding|claim|order|ranking)\s+"
    r"(?:holds|does\s+not\s+hold)|same\s+(?:order|ranking|direction|trend)\s+as\s+(?:in\s+)?the\s+paper|"
    r"differs?\s+from\s+the\s+paper)\b", re.IGNORECASE)


def _jsonable(value):
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def setting_difference(paper: Mapping[str, str], kit: Mapping[str, str]) -> str:
    """The keys where the paper's setting and the kit's differ, e.g. ``dataset: CIFAR-10 -> Fashion-MNIST``
    (``"same"`` when none differs; keys only one side names are left out)."""
    parts = [f"{key}: {paper[key]} → {kit[key]}" for key in paper
             if key in kit and str(paper[key]).strip().lower() != str(kit[key]).strip().lower()]
    return "; ".join(parts) if parts else "same"


def paper_text(claim: Claim) -> str:
    """The paper's value as a table cell (:func:`imckit.papers.verdict.describe_value`)."""
    return describe_value(claim.value, claim.unit, claim.compare.higher_is_better,
                          ordered=claim.compare.kind in ("order", "ranking"))


@dataclass(frozen=True)
class Row:
    """One line of a verdict table."""

    claim: Claim
    kit: Any
    verdict: Verdict
    kit_text: str
    setting: str
    note: str = ""

    def record(self) -> dict:
        return {"key": self.claim.key, "paper": self.claim.paper, "chapter": self.claim.chapter,
                "claim": self.claim.claim, "source": self.claim.source,
                "paper_value": paper_text(self.claim),
                "kit_value": self.kit_text, "setting": self.setting, "kind": self.claim.compare.kind,
                "verdict": self.verdict.verdict, "reason": self.verdict.reason, "note": self.note,
                "kit": _jsonable(self.kit)}


class Scorecard:
    """A chapter's "Paper vs this kit" table.

    Args:
        chapter: the chapter's notebook name; the claims whose ``chapter`` is it must all be added.
        setting: the kit's setting in this run (``network``, ``dataset``, ``bits``, ... as in the papers'
            data files), compared key by key with each claim's.
        profile: the run's profile, recorded for the scorecard page.
    """

    def __init__(self, chapter: str, setting: Mapping[str, str], profile: str = ""):
        self.chapter = str(chapter)
        self.setting = {str(k): str(v) for k, v in setting.items()}
        self.profile = str(profile)
        self.claims = {c.key: c for c in load_claims(chapter=self.chapter)}
        if not self.claims:
            raise ValueError(f"chapter must be a chapter some paper's claims name, got {chapter!r}; chapters "
                             f"with claims: {sorted({c.chapter for c in load_claims()})}")
        self.rows: dict[str, Row] = {}
        self.sentences: dict[str, dict] = {}

    def add(self, key: str, kit: Any, *, margin: float | None = None, reason: str = "", note: str = "",
            kit_text: str | None = None, setting: Mapping[str, str] | None = None) -> Verdict:
        """Record the kit's value for claim ``key`` (``"paper/id"``) and return its verdict.

        Args:
            key: the claim, one of this chapter's.
            kit: the kit's value (see :func:`imckit.papers.verdict.verdict`); ``None`` when not measured.
            margin: the half-width of the kit's interval (``direction`` claims).
            reason: why ``kit`` is ``None``.
            note: a short remark shown with the reason (e.g. which of the kit's solutions stands in).
            kit_text: how to show the kit's value (default: formatted like the paper's).
            setting: overrides of the chapter's setting for this claim.
        """
        if key not in self.claims:
            raise ValueError(f"key must be one of chapter {self.chapter!r}'s claims {sorted(self.claims)}, got {key!r}")
        if key in self.rows:
            raise ValueError(f"claim {key} was added twice")
        claim = self.claims[key]
        result = verdict(claim, kit, margin=margin, reason=reason)
        if kit_text is None:
            kit_text = describe_value(kit, claim.unit, claim.compare.higher_is_better,
                                      ordered=claim.compare.kind in ("order", "ranking"))
            if margin is not None and kit is not None and claim.compare.kind == "direction":
                kit_text += f" ± {describe_value(margin, claim.unit)}"
        own = {**self.setting, **(setting or {})}
        self.rows[key] = Row(claim, kit, result, kit_text, setting_difference(claim.setting, own), note)
        return result

    def verdict(self, key: str) -> Verdict:
        """The verdict already computed for ``key``."""
        if key not in self.rows:
            raise ValueError(f"claim {key} has no value yet: call add() first")
        return self.rows[key].verdict

    def sentence(self, key: str, *, reproduced: str | None = None, same_direction: str | None = None,
                 differs: str | None = None, not_comparable: str | None = None, name: str | None = None) -> str:
        """The variant for claim ``key``'s verdict: the only way a chapter says it agrees with a paper.

        Variants may use ``{kit}``, ``{paper}`` and ``{reason}``. A missing variant falls back to
        ``"<verdict>: <reason>"``. With ``name``, the sentence is glued as ``says_<name>`` (text).
        """
        row = self.rows.get(key)
        if row is None:
            raise ValueError(f"claim {key} has no value yet: call add() first")
        variants = {"reproduced": reproduced, "same direction": same_direction, "differs": differs,
                    "not comparable": not_comparable}
        chosen = variants[row.verdict.verdict]
        if chosen is None:
            chosen = row.verdict.verdict.capitalize() + (f": {row.verdict.reason}." if row.verdict.reason else ".")
        text = chosen.format(kit=row.kit_text, reason=row.verdict.reason, paper=paper_text(row.claim))
        if name is not None:
            if not re.fullmatch(r"[a-z0-9_]+", name):
                raise ValueError(f"name must match [a-z0-9_]+, got {name!r}")
            glue_name = SENTENCE_PREFIX + name
            self.sentences[glue_name] = {"key": key, "verdict": row.verdict.verdict, "text": text}
            from myst_nb import glue

            glue(glue_name, text, display=False)
        return text

    def missing(self) -> list[str]:
        """This chapter's claims that have no row yet."""
        return sorted(set(self.claims) - set(self.rows))

    def table(self):
        """The verdict table (pandas DataFrame, one row per claim in the data files' order)."""
        import pandas as pd

        rows = []
        for key, claim in self.claims.items():
            row = self.rows.get(key)
            if row is None:
                continue
            reason = "; ".join(p for p in (row.verdict.reason, row.note) if p)
            rows.append({"claim": f"{claim.claim} [{claim.key}; {claim.source}]",
                         "paper": paper_text(claim),
                         "kit": row.kit_text, "setting difference": row.setting,
                         "verdict": row.verdict.verdict, "reason": reason})
        return pd.DataFrame(rows, columns=list(COLUMNS))

    def counts(self) -> dict[str, int]:
        return {v: sum(r.verdict.verdict == v for r in self.rows.values()) for v in VERDICTS}

    def record(self) -> dict:
        return {"chapter": self.chapter, "profile": self.profile, "setting": self.setting,
                "rows": [self.rows[k].record() for k in self.claims if k in self.rows],
                "sentences": self.sentences}

    def glue(self) -> dict[str, int]:
        """Glue the record (``scorecard_record``, JSON) and the verdict counts (``scorecard_<verdict>``).

        Raises:
            ValueError: when a claim of this chapter has no row (every claim must be shown, measured or not).
        """
        from myst_nb import glue

        missing = self.missing()
        if missing:
            raise ValueError(f"chapter {self.chapter!r} has no value for claim(s) {missing}: add them "
                             "(with kit=None and a reason when this run cannot measure them)")
        glue(RECORD_NAME, json.dumps(self.record()), display=False)
        counts = self.counts()
        for name, count in counts.items():
            glue(f"scorecard_{name.replace(' ', '_')}", str(count), display=False)
        return counts


# --- reading executed chapters back ---------------------------------------------------------------------------

def glued_texts(notebook) -> dict[str, str]:
    """The text values a executed notebook (path or nbformat node) glued, by name."""
    import nbformat

    nb = nbformat.read(str(notebook), as_version=4) if isinstance(notebook, (str, Path)) else notebook
    glued = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            name = output.get("metadata", {}).get("scrapbook", {}).get("name")
            if not name:
                continue
            data = output.get("data", {})
            text = data.get("application/papermill.record/text/plain", data.get("text/plain", ""))
            try:
                value = ast.literal_eval(text)
                glued[name] = value if isinstance(value, str) else text
            except (ValueError, SyntaxError):
                glued[name] = text
    return glued


def read_record(notebook) -> dict | None:
    """The scorecard record an executed chapter glued, or ``None`` when it has none."""
    text = glued_texts(notebook).get(RECORD_NAME)
    return None if text is None else json.loads(text)


def collect(chapters: str | Path):
    """Every verdict row of the executed chapters in ``chapters`` (``*.ipynb``), one DataFrame.

    Columns: paper, chapter, key, claim, source, paper_value, kit_value, setting, verdict, reason, note,
    profile. Chapters without a record are left out (see :func:`chapters_without_record`).
    """
    import pandas as pd

    rows = []
    for path in sorted(Path(chapters).glob("*.ipynb")):
        record = read_record(path)
        if record is None:
            continue
        for row in record["rows"]:
            rows.append({**{k: v for k, v in row.items() if k != "kit"}, "profile": record.get("profile", "")})
    columns = ["paper", "chapter", "key", "claim", "source", "paper_value", "kit_value", "setting", "kind",
               "verdict", "reason", "note", "profile"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values(["paper", "chapter"], kind="stable").reset_index(drop=True)


def expected_chapters() -> list[str]:
    """The chapters some paper's claims name."""
    return sorted({c.chapter for c in load_claims()})


def counts_by_paper(frame):
    """Verdict counts per paper (rows) and verdict (columns), with a total row."""
    import pandas as pd

    table = pd.crosstab(frame["paper"], frame["verdict"]).reindex(columns=list(VERDICTS), fill_value=0)
    titles = {p: f"{p}: {paper.title}" for p, paper in papers().items()}
    table.index = [titles.get(p, p) for p in table.index]
    table.loc["all papers"] = table.sum()
    table["claims"] = table.sum(axis=1)
    return table


def counts_sentence(frame) -> str:
    """``"42 claims: 10 reproduced, 8 same direction, 9 differs, 15 not comparable"``."""
    counts = {v: int((frame["verdict"] == v).sum()) for v in VERDICTS}
    return f"{len(frame)} claims: " + ", ".join(f"{n} {v}" for v, n in counts.items())


def agreement_problems(notebook) -> list[str]:
    """What an executed chapter says about agreement that its verdict table does not back.

    Checks: (1) every sentence from :meth:`Scorecard.sentence` carries the verdict its table gives for
    its claim; (2) no markdown cell and no other glued text uses the vocabulary of agreement
    (:data:`AGREEMENT`) — such a sentence would be printed whatever the numbers say.
    """
    import nbformat

    nb = nbformat.read(str(notebook), as_version=4)
    problems = []
    glued = glued_texts(nb)
    record = json.loads(glued[RECORD_NAME]) if RECORD_NAME in glued else {"rows": [], "sentences": {}}
    verdicts = {row["key"]: row["verdict"] for row in record["rows"]}
    for name, sentence in record.get("sentences", {}).items():
        if verdicts.get(sentence["key"]) != sentence["verdict"]:
            problems.append(f"sentence {name} says {sentence['verdict']!r} for {sentence['key']}, the table "
                            f"{verdicts.get(sentence['key'])!r}")
        if glued.get(name) != sentence["text"]:
            problems.append(f"sentence {name} was glued with another text than the scorecard chose")
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            for match in AGREEMENT.finditer(cell.source):
                problems.append(f"markdown cell {index} states agreement without a verdict: {match.group(0)!r}")
    for name, text in glued.items():
        if name == RECORD_NAME or name in record.get("sentences", {}) or not isinstance(text, str):
            continue
        for match in AGREEMENT.finditer(text):
            problems.append(f"glued text {name} states agreement without a verdict: {match.group(0)!r}")
    return problems


# --- the README's counts ----------------------------------------------------------------------------------------

README_BEGIN = "<!-- scorecard:begin -->"
README_END = "<!-- scorecard:end -->"


def readme_block(frame, stamp: str) -> str:
    """The README's scorecard section: counts per paper and verdict, stamped with the run."""
    table = counts_by_paper(frame)
    columns = ["paper", *table.columns]
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    for index, row in table.iterrows():
        lines.append("| " + " | ".join([str(index), *(str(int(v)) for v in row.values)]) + " |")
    return "\n".join([README_BEGIN,
                      "<!-- generated by `python -m imckit.book scorecard --readme` from the executed chapters; "
                      "edits between the scorecard markers are overwritten -->",
                      "", stamp, "", *lines, "", README_END])


def replace_block(text: str, block: str) -> str:
    """``text`` with the part between the scorecard markers replaced by ``block``."""
    start, end = text.find(README_BEGIN), text.find(README_END)
    if start < 0 or end < start:
        raise ValueError(f"the README has no {README_BEGIN} ... {README_END} section")
    return text[:start] + block + text[end + len(README_END):]


__all__ = ["Scorecard", "Row", "paper_table", "coverage", "setting_difference", "collect", "read_record", "glued_texts", "counts_by_paper",
           "counts_sentence", "agreement_problems", "expected_chapters", "readme_block", "replace_block",
           "RECORD_NAME", "AGREEMENT", "COLUMNS", "get_claim"]


def paper_table(frame, paper: str):
    """The scorecard rows of one paper, as the scorecard page shows them."""
    rows = frame[frame["paper"] == str(paper)]
    shown = rows.assign(reason=[("; ".join(p for p in (r, n) if p)) for r, n in zip(rows["reason"], rows["note"])])
    shown = shown.rename(columns={"paper_value": "paper's value", "kit_value": "kit's value",
                                  "setting": "setting difference"})
    return shown[["chapter", "claim", "source", "paper's value", "kit's value", "setting difference", "verdict",
                  "reason"]].reset_index(drop=True)


def coverage(frame) -> dict[str, list[str]]:
    """Which chapters with claims have no record (``missing``) and which profiles the records come from."""
    found = set(frame["chapter"])
    return {"missing": [c for c in expected_chapters() if c not in found],
            "profiles": sorted(set(frame["profile"]))}
