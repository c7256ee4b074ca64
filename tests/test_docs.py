"""Every Python example in the README and the documentation runs as written, so the docs cannot rot.

(The docstrings' examples run as doctests through ``--doctest-modules``.)
"""

from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _python_blocks(page: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.DOTALL)


def _modules(page: Path) -> dict[str, str]:
    """The blocks a page tells the reader to save as a module ("Save this as `mgu.py`"), by module name."""
    found = re.findall(r"Save this as `(\w+)\.py`.*?```python\n(.*?)```", page.read_text(encoding="utf-8"), re.DOTALL)
    return dict(found)


def test_the_readme_and_the_getting_started_page_show_examples() -> None:
    assert _python_blocks(ROOT / "README.md")
    assert _python_blocks(ROOT / "docs" / "getting-started.md")


@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
def test_python_examples_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each block runs on its own, as a reader pastes it; a module the page says to save is saved first."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    for name, code in _modules(page).items():
        (tmp_path / f"{name}.py").write_text(code, encoding="utf-8")
        monkeypatch.delitem(sys.modules, name, raising=False)
    for number, block in enumerate(_python_blocks(page), start=1):
        if re.search(r"^import dask|^from dask", block, flags=re.MULTILINE):
            pytest.importorskip("dask", reason=f"{page.name} example {number} needs dask (pip install 'xrnn[dask]')")
        exec(compile(block, f"{page.name} example {number}", "exec"), {})


def test_the_own_cell_page_trains_from_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The page's cell module, saved as mgu.py, trains with ``xrnn train --cell mgu:MGU`` with its loss
    falling, and the checkpoint samples and resumes, importing the module again."""
    from xrnn import cli

    cell_code = _modules(ROOT / "docs" / "own-cell.md")["mgu"]
    assert len(cell_code.strip().splitlines()) < 60
    (tmp_path / "mgu.py").write_text(cell_code, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "mgu", raising=False)
    run = ["--hidden", "32", "--seq-len", "12", "--batch", "8", "--quiet"]
    status = cli.main(["train", "--cell", "mgu:MGU", "--steps", "60", "--save", "m.npz", "--metrics", "m.csv", *run])
    assert status == 0
    rows = [line for line in (tmp_path / "m.csv").read_text().splitlines() if not line.startswith("#")]
    rows_read = list(csv.DictReader(rows))
    losses = [float(row["loss"]) for row in rows_read]
    assert sum(losses[-10:]) / 10 < losses[0] - 0.5, "the MGU's loss should fall"
    assert cli.main(["sample", "--load", "m.npz", "--length", "20", "--seed", "0"]) == 0
    assert cli.main(["train", "--resume", "m.npz", "--steps", "62", "--quiet"]) == 0
    assert "mgu:MGU" in capsys.readouterr().err


def test_every_public_docstring_has_its_placeholders_filled_from_the_cell() -> None:
    import xrnn
    from xrnn import dask_arrays

    public = [getattr(xrnn, name) for name in xrnn.__all__]
    public += [getattr(dask_arrays, name) for name in ("rnn_forward", "rnn_backward", "lstm_forward", "gru_backward")]
    for function in public:
        assert "%(" not in (function.__doc__ or ""), function
    # the keys come from the specification: every LSTM key, once, in the forward's docstring
    lstm_doc = xrnn.lstm_forward.__doc__ or ""
    assert "``Wf, Wi, Wc, Wo (n_a, n_a + n_x)``, ``bf, bi, bc, bo (n_a, 1)``, ``Wy (n_y, n_a)``" in lstm_doc
    assert "``dc0 (n_a, m)``" in (xrnn.lstm_backward.__doc__ or "")
    assert "``c[..., -1]``" in lstm_doc
    assert "``c[..., -1]``" not in (xrnn.gru_forward.__doc__ or "")


def test_a_public_functions_role_puts_its_sections_before_its_examples() -> None:
    import xrnn
    from xrnn.cells import get_cell
    from xrnn.cells._docs import fill_doc

    def backward() -> None:
        """Backpropagation through time for the GRU.

        Examples
        --------
        None here.
        """

    doc = fill_doc(get_cell("gru"), "backward")(backward).__doc__ or ""
    assert doc.index("Parameters") < doc.index("Returns") < doc.index("Examples")
    assert "``dx (n_x, m, T_x)``, ``da0 (n_a, m)``" in doc
    for function in (xrnn.rnn_cell_forward, xrnn.lstm_cell_backward, xrnn.gru_forward, xrnn.lstm_backward):
        text = function.__doc__ or ""
        assert text.index("Parameters") < text.index("Returns") < text.index("Examples"), function


def test_fill_doc_rejects_an_unknown_role_and_a_role_without_examples() -> None:
    from xrnn.cells import get_cell
    from xrnn.cells._docs import fill_doc

    with pytest.raises(ValueError, match=r"role must be one of \('step_forward', .*got 'sideways'"):
        fill_doc(get_cell("rnn"), "sideways")

    def forward() -> None:
        """Run the RNN."""

    with pytest.raises(ValueError, match="docstring of forward needs an Examples section"):
        fill_doc(get_cell("rnn"), "forward")(forward)
