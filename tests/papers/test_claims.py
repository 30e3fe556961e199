"""The papers' data files: every file valid, every claim in a chapter that exists, malformed files named."""

import pytest

from imckit.papers.claims import ClaimError, get_claim, load_claims, papers, parse_paper

from ..conftest import ROOT


def _raw(**claim):
    base = {"id": "c", "chapter": "ch", "claim": "x", "value": 1.0, "compare": {"kind": "value", "tolerance": 1}}
    base.update(claim)
    return {"paper": "999", "source": "s", "citation": "c", "title": "t", "claims": [base]}


def test_every_data_file_loads_and_names_chapters_of_the_book():
    known = papers()
    assert {"000", "001", "002"} <= set(known)
    notebooks = {p.stem for p in (ROOT / "notebooks").glob("*.ipynb")}
    for paper in known.values():
        seeds = ROOT.parent / "shared" / "seeds"
        if seeds.is_dir():  # the papers sit beside the repository on the developers' machines
            assert (seeds / paper.source).is_file(), paper.source
        for claim in paper.claims:
            assert claim.chapter in notebooks, f"{claim.key} names chapter {claim.chapter!r}"
            assert claim.where, f"{claim.key} does not say where the paper states it"
            assert get_claim(claim.key) is claim


def test_claims_cite_a_known_reference():
    bib = (ROOT / "book" / "references.bib").read_text()
    for paper in papers().values():
        assert f"{{{paper.citation}," in bib


def test_load_claims_filters():
    assert all(c.chapter == "hessian" for c in load_claims(chapter="hessian"))
    assert all(c.paper == "002" for c in load_claims(paper="002"))
    with pytest.raises(ValueError, match="paper must be one of"):
        load_claims(paper="123")
    with pytest.raises(ValueError, match="no claim"):
        get_claim("000/no-such-claim")


@pytest.mark.parametrize("change, message", [
    ({"compare": {"kind": "guess"}}, "compare.kind must be one of"),
    ({"compare": {"kind": "value", "min_rho": 0.5}}, "does not take"),
    ({"compare": {"kind": "qualitative"}}, "needs compare.why"),
    ({"compare": {"kind": "bound", "side": "below"}}, "at least"),
    ({"compare": {"kind": "value", "tolerance": -1}}, "tolerance must be >= 0"),
    ({"compare": {"kind": "direction"}, "value": 0}, "non-zero"),
    ({"compare": {"kind": "ranking"}, "value": {"a": 1, "b": 2}}, "at least three"),
    ({"compare": {"kind": "order"}, "value": ["a", "a"]}, "distinct"),
    ({"value": "many"}, "finite number"),
    ({"value": float("nan")}, "finite number"),
    ({"id": "Bad Id"}, "id must match"),
    ({"where": {"page": "3"}}, "unknown key"),
    ({"colour": "red"}, "unknown field"),
])
def test_malformed_claims_are_named(change, message):
    with pytest.raises(ClaimError, match=message) as error:
        parse_paper(_raw(**change), "bad.yaml")
    assert "bad.yaml" in str(error.value)


def test_duplicate_ids_are_refused():
    raw = _raw()
    raw["claims"] = raw["claims"] * 2
    with pytest.raises(ClaimError, match="used twice"):
        parse_paper(raw, "dup.yaml")


def test_claim_setting_overrides_the_papers():
    raw = _raw(setting={"bits": "4"})
    raw["setting"] = {"network": "ResNet-18", "bits": "8"}
    claim = parse_paper(raw).claims[0]
    assert claim.setting == {"network": "ResNet-18", "bits": "4"}


def test_the_kits_constants_and_the_data_file_hold_the_same_numbers():
    """Where code keeps a paper's numbers (for tables in the paper's format), they are the data file's."""
    from imckit.experiments.compensation import PAPER_TABLE2_ACCURACY
    from imckit.experiments.quantization import PAPER_FULL_ACCURACY
    from imckit.search.simulate import PAPER_TABLE2_KILO_DEVICES

    assert get_claim("000/table2-memory").value == PAPER_TABLE2_KILO_DEVICES
    before = get_claim("000/table2-accuracy-before-order").value
    after = get_claim("000/table2-accuracy-after-order").value
    assert before == {name: acc[0] for name, acc in PAPER_TABLE2_ACCURACY.items()}
    assert after == {name: acc[1] for name, acc in PAPER_TABLE2_ACCURACY.items() if acc[1] is not None}
    assert get_claim("000/full-accuracy-order").value == {f"Full {b}": v for b, v in PAPER_FULL_ACCURACY.items()}
