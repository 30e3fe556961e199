"""The README's code examples run as written."""

import re

from .conftest import ROOT, requires_debian_fashion_mnist


def _block(heading: str) -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@requires_debian_fashion_mnist
def test_bring_your_own_model_example_runs(capsys):
    code = _block("Bring your own model")
    assert len([line for line in code.splitlines() if line.strip()]) <= 15
    namespace = {}
    exec(compile(code, "README.md", "exec"), namespace)
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "fast"  # the traced fast path, not the whole-forward fallback
    table = namespace["table"]
    assert table.frame("loss_change").shape == (3, 10)  # 3 mappable layers x the paper's 10 configurations
