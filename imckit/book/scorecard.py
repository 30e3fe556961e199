"""The README's scorecard counts, from the chapters of the last complete book run.

``python -m imckit.book scorecard`` prints the counts of verdicts per paper that the executed chapters in
``book/chapters/`` recorded; ``--readme`` also rewrites the README's section between
``<!-- scorecard:begin -->`` and ``<!-- scorecard:end -->`` with them. It refuses unless the last run was
complete and used the ``default`` profile, so the README never shows a smoke run's or a partial run's counts.
"""

from __future__ import annotations

import os
from pathlib import Path

from imckit.book.runner import ROOT, BookError, check_complete, describe_code_state
from imckit.papers.scorecard import collect, counts_by_paper, coverage, readme_block, replace_block


def scorecard_counts(root: str | Path = ROOT, readme: bool = False, profile: str = "default"):
    """The verdict counts per paper of the last complete run in ``root``; with ``readme``, write them into
    ``root/README.md`` (atomically).

    Raises:
        BookError: the last run was incomplete, used another profile than ``profile`` (README only), or a
            chapter with claims recorded no verdict table.
    """
    root = Path(root)
    status = check_complete(root)
    frame = collect(root / "book" / "chapters")
    covered = coverage(frame)
    if covered["missing"]:
        raise BookError(f"chapter(s) {covered['missing']} recorded no verdict table in the last run")
    table = counts_by_paper(frame)
    if readme:
        if status.get("profile") != profile:
            raise BookError(f"the README shows the {profile!r} profile's counts; the last run used "
                            f"{status.get('profile')!r}: run `python -m imckit.book run --profile {profile}` first")
        stamp = (f"*Counted from the `{status['profile']}` book run of {status.get('date', '?')[:10]} at "
                 f"{describe_code_state(status)}.*")
        path = root / "README.md"
        text = replace_block(path.read_text(), readme_block(frame, stamp))
        partial = path.with_name(".README.md.partial")
        partial.write_text(text)
        os.replace(partial, path)
    return table
