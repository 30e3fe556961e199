"""The seed papers' numbers as data, verdicts computed from the kit's numbers, and the book's scorecard.

* :mod:`imckit.papers.claims`: the data files (``imckit/papers/data/seedNNN.yaml``), loaded and validated;
* :mod:`imckit.papers.verdict`: reproduced / same direction / differs / not comparable, per comparison kind;
* :mod:`imckit.papers.scorecard`: a chapter's "Paper vs this kit" table (:class:`Scorecard`), the book's
  scorecard page (:func:`collect`) and the check that no chapter states more agreement than its table.
"""

from imckit.papers.claims import Claim, ClaimError, Comparison, Paper, get_claim, load_claims, papers
from imckit.papers.scorecard import (Scorecard, agreement_problems, collect, counts_by_paper, counts_sentence,
                                     setting_difference)
from imckit.papers.verdict import VERDICTS, Verdict, describe_value, spearman, verdict

__all__ = ["Claim", "ClaimError", "Comparison", "Paper", "get_claim", "load_claims", "papers", "Scorecard",
           "agreement_problems", "collect", "counts_by_paper", "counts_sentence", "setting_difference", "VERDICTS",
           "Verdict", "describe_value", "spearman", "verdict"]
