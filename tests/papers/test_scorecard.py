"""A chapter's verdict table, the sentences it may print, its record, and the agreement check."""

import json

import nbformat
import pytest

from imckit.papers import scorecard
from imckit.papers.claims import parse_paper
from imckit.papers.scorecard import RECORD_NAME, Scorecard, agreement_problems, collect, setting_difference

PAPER = parse_paper({
    "paper": "999", "source": "s.txt", "citation": "c", "title": "A test paper",
    "setting": {"network": "ResNet-18", "dataset": "CIFAR-10"},
    "claims": [
        {"id": "saving", "chapter": "demo", "claim": "saves half", "value": 50.0, "unit": "%",
         "where": {"table": "Table 2"}, "compare": {"kind": "value", "tolerance": 5, "signed": True}},
        {"id": "drop", "chapter": "demo", "claim": "4-bit loses accuracy", "value": -2.0, "unit": "pts",
         "where": {"section": "5"}, "setting": {"bits": "4"}, "compare": {"kind": "direction", "tolerance": 0.2}},
        {"id": "cifar", "chapter": "demo", "claim": "93 % on CIFAR-10", "value": 93.0, "unit": "%",
         "where": {"table": "Table 1"}, "compare": {"kind": "qualitative", "why": "no CIFAR-10 here"}},
        {"id": "other", "chapter": "elsewhere", "claim": "x", "value": 1.0, "where": {"table": "T"},
         "compare": {"kind": "value", "tolerance": 1}},
    ]}, "s.yaml")


@pytest.fixture(autouse=True)
def test_paper(monkeypatch):
    monkeypatch.setattr(scorecard, "load_claims", lambda chapter=None: [c for c in PAPER.claims
                                                                         if chapter in (None, c.chapter)])


def _card():
    return Scorecard("demo", setting={"network": "ResNet-8", "dataset": "Fashion-MNIST", "bits": "8"}, profile="smoke")


def test_table_has_a_row_per_claim_with_setting_difference_and_reason():
    card = _card()
    assert card.add("999/saving", 42.0).verdict == "same direction"
    assert card.add("999/drop", -1.0, margin=0.3).verdict == "reproduced"
    assert card.add("999/cifar", 91.5).verdict == "not comparable"
    table = card.table()
    assert list(table.columns) == ["claim", "paper", "kit", "setting difference", "verdict", "reason"]
    assert list(table["verdict"]) == ["same direction", "reproduced", "not comparable"]
    assert table.loc[0, "setting difference"] == "network: ResNet-18 → ResNet-8; dataset: CIFAR-10 → Fashion-MNIST"
    assert "network: ResNet-18 → ResNet-8" in table.loc[1, "setting difference"]
    assert "bits: 4 → 8" in table.loc[1, "setting difference"]
    assert table.loc[1, "kit"] == "-1.00 pts ± 0.30 pts"
    assert table.loc[2, "reason"] == "no CIFAR-10 here"
    assert card.counts() == {"reproduced": 1, "same direction": 1, "differs": 0, "not comparable": 1}


def test_every_claim_of_the_chapter_must_be_added_before_gluing():
    card = _card()
    card.add("999/saving", 50.0)
    with pytest.raises(ValueError, match="999/cifar"):
        card.glue()
    with pytest.raises(ValueError, match="key must be one of"):
        card.add("999/other", 1.0)  # another chapter's claim
    with pytest.raises(ValueError, match="twice"):
        card.add("999/saving", 50.0)
    with pytest.raises(ValueError, match="chapter must be"):
        Scorecard("nowhere", setting={})


def test_sentence_follows_the_verdict():
    card = _card()
    card.add("999/saving", 30.0)
    text = card.sentence("999/saving", reproduced="The kit saves {kit}, as much.",
                         same_direction="The kit saves {kit}, less than {paper}.", differs="Not {paper}.")
    assert text == "The kit saves 30.0 %, less than 50.0 %."
    card.add("999/drop", 0.1)
    assert card.sentence("999/drop").startswith("Differs: no effect beyond the noise")
    with pytest.raises(ValueError, match="add"):
        card.sentence("999/cifar")


def _executed(tmp_path, card, markdown="Plain prose.", extra_glue=None):
    """A notebook as papermill leaves it: the card's glue outputs captured in cells."""
    outputs = []

    def capture(name, value, display=False):
        outputs.append(nbformat.v4.new_output("display_data", data={
            "application/papermill.record/text/plain": repr(value)}, metadata={"scrapbook": {"name": name}}))

    import myst_nb

    original = myst_nb.glue
    myst_nb.glue = capture
    try:
        card.glue()
        for name, variant in (extra_glue or {}).items():
            capture(name, variant)
        for name, sentence in card.sentences.items():
            capture(name, sentence["text"])
    finally:
        myst_nb.glue = original
    code = nbformat.v4.new_code_cell("card.glue()")
    code.outputs = outputs
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(markdown), code])
    path = tmp_path / "demo.ipynb"
    nbformat.write(nb, path)
    return path


def _full_card():
    card = _card()
    card.add("999/saving", 49.0)
    card.add("999/drop", -1.0)
    card.add("999/cifar", None, reason="smoke")
    return card


def test_record_is_read_back_by_the_scorecard_page(tmp_path):
    card = _full_card()
    path = _executed(tmp_path, card)
    frame = collect(tmp_path)
    assert list(frame["key"]) == ["999/saving", "999/drop", "999/cifar"]
    assert set(frame["profile"]) == {"smoke"}
    assert json.loads(scorecard.glued_texts(path)[RECORD_NAME])["chapter"] == "demo"
    assert agreement_problems(path) == []


def test_agreement_check_catches_prose_that_states_agreement(tmp_path):
    card = _full_card()
    path = _executed(tmp_path, card, markdown="The kit's saving agrees with the paper.",
                     extra_glue={"some_sentence": "Its ranking is the same order as the paper."})
    problems = agreement_problems(path)
    assert any("markdown cell 0" in p for p in problems)
    assert any("glued text some_sentence" in p for p in problems)


def test_agreement_check_accepts_method_descriptions(tmp_path):
    text = ("This chapter reproduces the search of Sec. IV. The paper's threshold is the kit's choice here. "
            "Accuracy agrees within the noise of the binomial error.")
    path = _executed(tmp_path, _full_card(), markdown=text)
    assert agreement_problems(path) == []


def test_agreement_check_catches_a_sentence_glued_with_another_verdict(tmp_path):
    card = _full_card()
    card.sentence("999/saving", reproduced="Saves as much.", name="saving")
    card.sentences["says_saving"]["verdict"] = "differs"  # as if the chapter overrode the scorecard's choice
    path = _executed(tmp_path, card)
    assert any("says_saving" in p for p in agreement_problems(path))


def test_setting_difference_ignores_case_and_one_sided_keys():
    assert setting_difference({"dataset": "CIFAR-10", "bits": "8"}, {"dataset": "cifar-10"}) == "same"
