"""Whether a paper's result holds in the kit: one verdict per claim, computed from the numbers.

The four verdicts (:data:`VERDICTS`):

* **reproduced**: the kit's value agrees with the paper's as the claim's comparison defines it;
* **same direction**: it goes the paper's way but misses the tolerance (a smaller or larger effect,
  a ranking that correlates but not closely, an order with a pair swapped);
* **differs**: no effect beyond the noise, the opposite effect, or no correlation;
* **not comparable**: the claim can only be compared qualitatively (the settings differ too much), or
  the kit did not measure it in this run.

Rules per comparison kind (``Claim.compare.kind``):

``value``
    ``|kit - paper| <= tolerance`` is reproduced; otherwise, when ``signed`` and both have the same
    sign, same direction; otherwise differs.
``bound``
    A one-sided claim ("loses only 3 points", "matches the baseline"): the value is the bound, ``side``
    says which; the kit's value on the right side of it, by at most ``tolerance`` beyond, is reproduced;
    otherwise differs.
``direction``
    The paper's value is an effect; its sign is the claim. With ``margin = max(tolerance, kit's own
    interval half-width)``: the kit's effect of the same sign beyond the margin is reproduced when it is at
    least half the paper's in size (:data:`MAGNITUDE_SHARE`), same direction when smaller; within the
    margin, differs ("no effect beyond the noise"); beyond it with the opposite sign, differs.
``order``
    The paper's order (a list, best first; or a mapping sorted by ``higher_is_better``) against the kit's
    values (a mapping). Every pair the paper orders is *concordant* when the kit orders it the same way,
    *tied* when the kit's two values are within ``max(tolerance, margin)``, *reversed* otherwise; with
    ``tau = (concordant - reversed) / pairs`` (Kendall's tau with ties as zero): no reversed pair and
    ``tau >= 0.5`` is reproduced (mostly ordered, never against the paper); ``tau > 0`` same direction;
    else differs (a kit whose values all tie shows no order: differs).
``ranking``
    Many entries (e.g. the cells of a table): Spearman's rho over the keys both have (ties get average
    ranks), ``rho >= min_rho`` reproduced, ``rho > 0`` same direction, else differs. Fewer than three
    common keys: not comparable.
``qualitative``
    Always not comparable, with the claim's ``why``.

This is hand-written because the rules are the kit's definitions; the statistics underneath (Spearman)
come from scipy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from imckit.core.validate import check_number
from imckit.papers.claims import Claim

REPRODUCED, SAME_DIRECTION, DIFFERS, NOT_COMPARABLE = "reproduced", "same direction", "differs", "not comparable"
VERDICTS = (REPRODUCED, SAME_DIRECTION, DIFFERS, NOT_COMPARABLE)
MAGNITUDE_SHARE = 0.5  # a direction claim's effect counts as reproduced from this share of the paper's size on


@dataclass(frozen=True)
class Verdict:
    """A claim's verdict and, unless reproduced, the one-line reason."""

    verdict: str
    reason: str = ""

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")


def _finite(name: str, value) -> float:
    """``value`` as a finite float (:func:`imckit.core.validate.check_number`)."""
    return check_number(value, name)


def format_number(value: float, unit: str = "") -> str:
    """A number as the tables show it: up to three significant decimals, with its unit."""
    value = float(value)
    magnitude = abs(value)
    text = (f"{value:.0f}" if magnitude >= 1000 else f"{value:.1f}" if magnitude >= 10
            else f"{value:.2f}" if magnitude >= 0.1 or value == 0 else f"{value:.3g}")
    if unit in ("%", "x"):
        return f"{text} {unit}" if unit == "%" else f"{text}{unit}"
    return f"{text} {unit}".strip()


def _order_from(value, higher_is_better: bool) -> list[str]:
    if isinstance(value, Mapping):
        return [k for k, _ in sorted(value.items(), key=lambda kv: -kv[1] if higher_is_better else kv[1])]
    return [str(v) for v in value]


def _kit_mapping(name: str, kit) -> dict[str, float]:
    if not isinstance(kit, Mapping):
        raise TypeError(f"{name} must be a mapping name -> number for this claim, got {type(kit).__name__}")
    return {str(k): _finite(f"{name}[{k!r}]", v) for k, v in kit.items()}


def _value(claim: Claim, kit: float) -> Verdict:
    paper, tolerance = claim.value, claim.compare.tolerance
    gap = kit - paper
    if abs(gap) <= tolerance + 1e-12:
        return Verdict(REPRODUCED)
    reason = (f"kit {format_number(kit, claim.unit)} vs paper {format_number(paper, claim.unit)}: "
              f"{format_number(abs(gap), claim.unit)} apart, beyond the tolerance of "
              f"{format_number(tolerance, claim.unit)}")
    if claim.compare.signed and np.sign(kit) == np.sign(paper) and paper != 0:
        return Verdict(SAME_DIRECTION, reason + " (same sign)")
    return Verdict(DIFFERS, reason)


def _bound(claim: Claim, kit: float) -> Verdict:
    bound, tolerance = claim.value, claim.compare.tolerance
    floor = claim.compare.side == "at least"
    if (kit >= bound - tolerance - 1e-12) if floor else (kit <= bound + tolerance + 1e-12):
        return Verdict(REPRODUCED)
    return Verdict(DIFFERS, f"kit {format_number(kit, claim.unit)} is {'below' if floor else 'above'} the paper's "
                            f"{'floor' if floor else 'ceiling'} of {format_number(bound, claim.unit)} by more than "
                            f"the tolerance of {format_number(tolerance, claim.unit)}")


def _direction(claim: Claim, kit: float, margin: float | None) -> Verdict:
    noise = max(claim.compare.tolerance, margin or 0.0)
    expected = np.sign(claim.value)
    if abs(kit) <= noise:
        return Verdict(DIFFERS, f"no effect beyond the noise: kit {format_number(kit, claim.unit)} within "
                                f"±{format_number(noise, claim.unit)} (paper {format_number(claim.value, claim.unit)})")
    if np.sign(kit) == expected:
        if abs(kit) < MAGNITUDE_SHARE * abs(claim.value):
            return Verdict(SAME_DIRECTION, f"a smaller effect: kit {format_number(kit, claim.unit)}, less than "
                                           f"{MAGNITUDE_SHARE:.0%} of the paper's {format_number(claim.value, claim.unit)}")
        return Verdict(REPRODUCED)
    return Verdict(DIFFERS, f"opposite direction: kit {format_number(kit, claim.unit)}, paper "
                            f"{format_number(claim.value, claim.unit)}")


def _order(claim: Claim, kit: Mapping[str, float], margin: float | None = None) -> Verdict:
    order = _order_from(claim.value, claim.compare.higher_is_better)
    missing = [k for k in order if k not in kit]
    if missing:
        raise ValueError(f"the kit's values for claim {claim.key} lack {missing}; the paper orders {order}")
    sign = 1.0 if claim.compare.higher_is_better else -1.0
    tolerance = max(claim.compare.tolerance, margin or 0.0)
    concordant, reversed_pairs = 0, []
    for i, better in enumerate(order):
        for worse in order[i + 1:]:
            if isinstance(claim.value, Mapping) and claim.value[better] == claim.value[worse]:
                continue  # the paper ties them: no order to check
            gap = sign * (kit[better] - kit[worse])
            if abs(gap) <= tolerance + 1e-12:
                continue  # a tie within the tolerance agrees with either order
            if gap > 0:
                concordant += 1
            else:
                reversed_pairs.append((better, worse))
    compared = sum(1 for i, better in enumerate(order) for worse in order[i + 1:]
                   if not (isinstance(claim.value, Mapping) and claim.value[better] == claim.value[worse]))
    tau = (concordant - len(reversed_pairs)) / compared if compared else 0.0
    ties = compared - concordant - len(reversed_pairs)
    if not reversed_pairs and tau >= 0.5:
        return Verdict(REPRODUCED)
    if not reversed_pairs:
        reason = (f"no pair differs beyond the tolerance of {format_number(tolerance, claim.unit)}"
                  if not concordant else
                  f"only {concordant} of {compared} pairs are ordered beyond the tolerance; the others are ties")
    else:
        pairs = ", ".join(f"{b} above {w}" for b, w in reversed_pairs[:3])
        more = f" and {len(reversed_pairs) - 3} more" if len(reversed_pairs) > 3 else ""
        reason = (f"the paper has {pairs}{more}; the kit reverses {'them' if len(reversed_pairs) > 1 else 'it'}"
                  + (f" ({ties} of {compared} pairs tie)" if ties else ""))
    return Verdict(SAME_DIRECTION if tau > 0 else DIFFERS, reason)


def spearman(a: Mapping[str, float], b: Mapping[str, float]) -> tuple[float, int]:
    """Spearman's rho (average ranks for ties) over the keys ``a`` and ``b`` share, and their number."""
    from scipy.stats import spearmanr

    keys = [k for k in a if k in b]
    if len(keys) < 3:
        return float("nan"), len(keys)
    x = np.array([a[k] for k in keys])
    y = np.array([b[k] for k in keys])
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan"), len(keys)
    return float(spearmanr(x, y).statistic), len(keys)


def _ranking(claim: Claim, kit: Mapping[str, float]) -> Verdict:
    rho, common = spearman(claim.value, kit)
    if common < 3:
        return Verdict(NOT_COMPARABLE, f"only {common} entries in common with the paper's {len(claim.value)}")
    if math.isnan(rho):
        return Verdict(NOT_COMPARABLE, "no rank correlation defined: one side is constant")
    text = f"Spearman rho {rho:.2f} over {common} entries"
    if rho >= claim.compare.min_rho:
        return Verdict(REPRODUCED)
    if rho > 0:
        return Verdict(SAME_DIRECTION, f"{text}, below {claim.compare.min_rho:.2f}")
    return Verdict(DIFFERS, f"{text}: no positive correlation")


def verdict(claim: Claim, kit: Any, *, margin: float | None = None, reason: str = "") -> Verdict:
    """The verdict on ``claim`` given the kit's value.

    Args:
        claim: the paper's claim.
        kit: the kit's value in the claim's unit: a number (``value``/``direction``), a mapping name ->
            number (``order``/``ranking``), anything for ``qualitative``; ``None`` when this run did not
            measure it.
        margin: ``direction``: the half-width of the kit's own interval (e.g. a 95 % confidence interval of
            a mean difference), widening the noise margin; ``order``: the kit's own spread, widening the tie
            tolerance; must be >= 0.
        reason: why the kit has no value (used when ``kit`` is ``None``).

    Returns:
        A :class:`Verdict`; see the module docstring for the rules.
    """
    if margin is not None:
        margin = check_number(margin, "margin", 0)
    kind = claim.compare.kind
    if kind == "qualitative":
        return Verdict(NOT_COMPARABLE, claim.compare.why)
    if kit is None:
        return Verdict(NOT_COMPARABLE, reason or "not measured in this run")
    if kind in ("value", "bound", "direction"):
        value = _finite(f"the kit's value for {claim.key}", kit)
        return {"value": _value, "bound": _bound}[kind](claim, value) if kind != "direction" \
            else _direction(claim, value, margin)
    mapping = _kit_mapping(f"the kit's value for {claim.key}", kit)
    return _order(claim, mapping, margin) if kind == "order" else _ranking(claim, mapping)


def describe_value(value: Any, unit: str = "", higher_is_better: bool = True, ordered: bool = True) -> str:
    """A claim's or the kit's value in a table cell: numbers with unit, orders as ``a > b > c`` (with the
    values up to four entries, names only up to ten), larger mappings by their size; with ``ordered=False``
    (a mapping that is not an order) as ``name value`` pairs."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if isinstance(value, (tuple, list)):
        return " > ".join(map(str, value))
    if isinstance(value, Mapping):
        if len(value) > 10:
            return f"{len(value)} entries"
        if not ordered:
            return ", ".join(f"{k} {format_number(v, unit)}" for k, v in value.items())
        order = _order_from(value, higher_is_better)
        if len(value) > 4:
            return " > ".join(order)
        return " > ".join(f"{k} ({format_number(value[k], unit)})" for k in order)
    return format_number(value, unit)
