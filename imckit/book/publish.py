"""Put the course online: the built book plus the student notebooks on a ``gh-pages`` branch (``make publish``).

:func:`publish` copies the student notebooks of ``python -m imckit.book exercises`` into the built HTML
(``_build/html/exercises/``, linked from the instructors' guide) and commits the folder to a local branch
with ``ghp-import`` (a well-kept tool made for exactly this; nothing here re-implements it). Nothing is
pushed unless asked: ``make publish PUSH=1`` (or ``push=True``) pushes the branch to the remote, for GitHub
Pages to serve. The example workflow ``.github/workflows/publish-book.yml`` does the same on GitHub.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from imckit.book.runner import ROOT, BookError
from imckit.core.validate import check_bool


def published_notebooks(html: str | Path, exercises: str | Path, chapters: list[str] | None = None) -> list[Path]:
    """Copy the student notebooks ``exercises/student/CHAPTER.ipynb`` into ``html/exercises/student/``;
    return the copies.

    Only the student notebooks: the instructor notebooks and the autograder zips hold the hidden checks,
    and a public site must not. Only the chapters that have exercises now (default: the kit's masters in
    ``notebooks/exercises/``), so a stale notebook of a renamed chapter is not published.
    """
    from imckit.book.exercises import masters

    html, exercises = Path(html), Path(exercises)
    names = [m.stem for m in masters()] if chapters is None else list(chapters)
    students = [exercises / "student" / f"{name}.ipynb" for name in names]
    missing = [p.name for p in students if not p.is_file()]
    if not students or missing:
        raise BookError(f"student notebooks missing from {exercises / 'student'} ({missing or 'none listed'}): "
                        "run `make exercises` first")
    target = html / "exercises" / "student"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    return [Path(shutil.copy2(path, target / path.name)) for path in students]


def publish(root: str | Path = ROOT, branch: str = "gh-pages", push: bool = False, remote: str = "origin",
            html: str | Path | None = None, exercises: str | Path | None = None,
            chapters: list[str] | None = None) -> str:
    """Commit the built book (with the student notebooks) to ``branch`` of the git repository at ``root``.

    Args:
        root: the kit's checkout (a git repository).
        branch: the branch to (re)write; its history gets one commit per publish (ghp-import).
        push: also push ``branch`` to ``remote`` (default: do not push).
        remote: the remote to push to.
        html: the built book (default ``root/_build/html``; ``make book`` builds it).
        exercises: the output of ``python -m imckit.book exercises`` (default ``root/_build/exercises``).
        chapters: the chapters whose student notebooks to publish (default: every chapter with exercises).

    Returns:
        the new commit of ``branch``.

    Raises:
        BookError: no built book, no student notebooks, not a git repository, or ghp-import failed.
    """
    check_bool(push, "push")
    root = Path(root)
    html = Path(html) if html is not None else root / "_build" / "html"
    exercises = Path(exercises) if exercises is not None else root / "_build" / "exercises"
    if not (html / "index.html").is_file():
        raise BookError(f"no built book at {html}: run `make book` first")
    if not isinstance(branch, str) or not branch or branch.startswith("-") or " " in branch:
        raise BookError(f"branch must be a git branch name; got {branch!r}")
    inside = subprocess.run(["git", "rev-parse", "--is-inside-work-tree"], cwd=root, capture_output=True, text=True)
    if inside.returncode != 0:
        raise BookError(f"{root} is not a git repository: publishing commits to one of its branches")
    published_notebooks(html, exercises, chapters)
    ghp = shutil.which("ghp-import", path=str(Path(sys.executable).parent)) or shutil.which("ghp-import")
    if ghp is None:
        raise BookError("the ghp-import command is missing: pip install 'imckit[book]'")
    command = [ghp, "--no-jekyll", "--branch", branch, "--message", "Publish the imckit book and exercises"]
    if push:
        command += ["--push", "--remote", remote]
    command.append(str(html))
    completed = subprocess.run(command, cwd=root, capture_output=True, text=True)
    if completed.returncode != 0:
        raise BookError(f"ghp-import failed: {completed.stderr.strip() or completed.stdout.strip()}")
    commit = subprocess.run(["git", "rev-parse", branch], cwd=root, capture_output=True, text=True, check=True)
    where = f"pushed to {remote}/{branch}" if push else f"branch {branch} (not pushed; PUSH=1 pushes it)"
    print(f"[imckit.book] published {html} -> {where}", flush=True)
    return commit.stdout.strip()


def main(argv: list[str] | None = None) -> int:
    """``python -m imckit.book publish [--push] [--branch B] [--remote R]``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m imckit.book publish",
                                     description="Commit _build/html (with the student notebooks) to a gh-pages "
                                                 "branch with ghp-import; push only with --push.")
    parser.add_argument("--branch", default="gh-pages")
    parser.add_argument("--remote", default="origin")
    parser.add_argument("--push", action="store_true", help="push the branch (default: local only)")
    args = parser.parse_args(argv)
    try:
        publish(branch=args.branch, push=args.push, remote=args.remote)
    except BookError as err:
        print(f"[imckit.book] ERROR: {err}", file=sys.stderr, flush=True)
        return 1
    return 0
