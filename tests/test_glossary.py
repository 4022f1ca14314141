"""The glossary (docs/glossary.md) against the book: every chapter link leads to a chapter notebook that exists,
every "§k" it cites is a numbered section heading of that chapter, the notation table holds every book-wide
symbol, and the terms hold every book-wide term, in alphabetical order. Reads text only; no torch."""

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GLOSSARY = ROOT / "docs" / "glossary.md"
# A link to a chapter, as the glossary writes it: [Chapter 3, §5](../notebooks/03_initialization.ipynb)
CHAPTER_LINK = re.compile(r"\[Chapter (\d+)(?:, §(\d+))?\]\((\.\./notebooks/[^)#]+)\)")
ANY_NOTEBOOK_LINK = re.compile(r"\]\((\.\./notebooks/[^)]*)\)")
SECTION_HEADING = re.compile(r"^# ## (\d+)\. ", re.MULTILINE)  # "# ## 5. ..." in a chapter's py:percent source

# The book's binding notation: one symbol, one meaning. Each must be a row of the glossary's notation table.
SYMBOLS = ["L", "l", "n", "n_{in}", "n_{out}", "x", "z_l", "h_l", "h_0", "F_l", r"\phi", r"\phi'", r"\ell",
           r"\delta_l", "J_l", r"\sigma_w^2", r"\sigma_b^2", "q_l", "q^*", "v_l", "v_0", "c_l", r"\chi", "g", "g_l",
           "s", r"\sigma_1^2", r"\sigma_2^2", r"\varepsilon"]
# The book's binding terms (each chapter defines them where it uses them); each must head a glossary entry.
TERMS = ["activation", "pre-activation", "branch", "residual stream", "loss", "jacobian", "weight variance", "fan-in",
         "gain", "mean field", "variance map", "fixed point", "correlation map", "chi", "chi-squared distribution",
         "ordered phase", "chaotic phase", "edge of chaos", "singular values", "orthogonal matrix",
         "dynamical isometry", "quadrature", "layernorm", "batchnorm", "attention", "attention head", "warm-up",
         "xavier", "glorot initialisation", "he", "kaiming initialisation", "update-to-data ratio",
         "expected initial loss", "rank", "machine epsilon", "subnormal number", "gradient clipping",
         "vanishing gradient", "exploding gradient", "saturation", "dead unit", "residual block", "pre-norm",
         "rezero", "fixup", "block", "layer", "stage", "buffer", "parameter", "state_dict", "hook", "pruning",
         "sparsity", "gelu", "leaky relu"]


def glossary() -> str:
    return GLOSSARY.read_text()


def sections(notebook: Path) -> set[int]:
    """The numbered sections ("## 5. ...") of a chapter, read from its .py source."""
    return {int(k) for k in SECTION_HEADING.findall(notebook.with_suffix(".py").read_text())}


def notation_rows(text: str) -> list[list[str]]:
    table = text.split("## Notation", 1)[1].split("## Terms", 1)[0]
    rows = [line.strip().strip("|").split(" | ") for line in table.splitlines() if line.startswith("| $")]
    return [[cell.strip() for cell in row] for row in rows]


def term_names(text: str) -> list[str]:
    return re.findall(r"^- \*\*(.+?)\*\*", text.split("## Terms", 1)[1], re.MULTILINE)


def sort_key(name: str) -> str:
    """Alphabetical order of a term: its words before any "(", ",", ";" or ".", case, backticks and hyphens ignored."""
    name = re.split(r"[(,;.]", name.replace("`", "").lstrip("."))[0]
    return re.sub(r"[^a-z0-9 ]", "", name.lower()).strip()


def test_every_chapter_link_leads_to_a_chapter_and_a_section_it_has():
    text = glossary()
    links = CHAPTER_LINK.findall(text)
    assert len(links) > 100, "the glossary should link its entries to the chapters"
    bad = []
    for chapter, section, target in links:
        notebook = (GLOSSARY.parent / target).resolve()
        if not notebook.is_file() or not notebook.name.startswith(f"{int(chapter):02d}_"):
            bad.append(f"Chapter {chapter} -> {target}: no such chapter notebook")
        elif section and int(section) not in sections(notebook):
            bad.append(f"Chapter {chapter}, §{section}: {notebook.stem} has sections {sorted(sections(notebook))}")
    assert not bad, "\n".join(bad)
    # and no other kind of link into notebooks/ (a heading anchor, say) that the check above would not see
    assert len(ANY_NOTEBOOK_LINK.findall(text)) == len(links)


def test_the_notation_table_holds_every_book_wide_symbol_with_a_meaning_and_a_chapter():
    rows = notation_rows(glossary())
    listed = {symbol.replace(" ", "") for row in rows for symbol in re.findall(r"\$([^$]+)\$", row[0])}
    assert not [s for s in SYMBOLS if s.replace(" ", "") not in listed], "symbols missing from the notation table"
    assert all(len(row) == 3 and row[1] and CHAPTER_LINK.search(row[2]) for row in rows)


def test_the_terms_hold_every_book_wide_term_alphabetically_each_linked_to_a_chapter():
    text = glossary()
    names = term_names(text)
    # a term's names: its heading, split at "(", ")", "," and ";" ("He (Kaiming) initialisation" -> he, kaiming, ...)
    aliases = {part.strip() for name in names
               for part in re.split(r"[(),;]", name.lower().replace("`", "").strip("."))}
    missing = [t for t in TERMS if t not in aliases]
    assert not missing, f"terms missing from the glossary: {missing}"
    keys = [sort_key(name) for name in names]
    assert keys == sorted(keys), "the terms are not in alphabetical order"
    entries = re.split(r"^- \*\*", text.split("## Terms", 1)[1], flags=re.MULTILINE)[1:]
    assert all(CHAPTER_LINK.search(entry) for entry in entries), "every term links to a chapter"


@pytest.mark.parametrize("line", ["[Chapter 9, §1](../notebooks/09_missing.ipynb)",
                                  "[Chapter 1, §99](../notebooks/01_vanishing_gradients.ipynb)",
                                  "[Chapter 2, §1](../notebooks/01_vanishing_gradients.ipynb)"])
def test_the_link_check_catches_a_wrong_chapter_or_section(line, monkeypatch, tmp_path):
    fake = tmp_path / "docs" / "glossary.md"
    fake.parent.mkdir()
    fake.write_text(glossary().replace("## Notation", line + "\n\n## Notation", 1))
    (tmp_path / "notebooks").symlink_to(ROOT / "notebooks")
    monkeypatch.setattr(sys.modules[__name__], "GLOSSARY", fake)
    with pytest.raises(AssertionError):
        test_every_chapter_link_leads_to_a_chapter_and_a_section_it_has()
