"""The cached computations of the chapter "Hessian and Fisher sensitivity" are keyed by the code that computes
them, never by the chapter's sentences (their results are tested end to end in test_hessian.py)."""

from imckit.experiments.hessian_steps import CODE

from .closure import chapter_modules, covered_modules


def test_keys_cover_the_crossbar_algorithms_and_no_chapter_text():
    covered = covered_modules(CODE[0])
    assert {"imckit.crossbars.hessian", "imckit.crossbars.fisher", "imckit.crossbars.precision"} <= covered
    assert chapter_modules(CODE[0]) == set()


def test_the_chapter_module_is_not_a_key_but_its_steps_are():
    # the chapter module imports its steps (so they share the code), not the other way round
    assert "imckit.experiments.hessian_steps" in covered_modules("imckit.experiments.hessian")
    assert "imckit.experiments.hessian" not in covered_modules(CODE[0])
