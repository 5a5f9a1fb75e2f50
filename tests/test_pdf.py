"""The PDF edition (``python -m saddlebook pdf``) of the quick book, read back with pypdf.

The whole book must hold every chapter title, typeset math (no TeX left in
the text), every figure as an embedded image and a bookmark per page, in
order; each chapter's PDF must
exist with its title; every chapter page of the HTML must link to its PDF,
and the front page to the whole book's, with the targets in the HTML output.

The printing needs Debian's Chromium (``apt-get install -y chromium``).
Without it those tests are skipped locally, but fail when
``SADDLEBOOK_REQUIRE_BROWSER=1`` (set by CI). The unit tests at the end need
neither Chromium nor the quick book.
"""
import importlib.util
import json
import re
import unicodedata
from pathlib import Path

import pytest

from conftest import needs_chromium
from saddlebook.publish import pdf as pdfmod
from saddlebook.publish.chapters import chapters as list_chapters

ROOT = Path(__file__).resolve().parents[1]
needs_browser = needs_chromium("the PDF test")


def _load_ext(name):
    spec = importlib.util.spec_from_file_location(f"_test_ext_{name}", ROOT / "book" / "_ext" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _extract(path: Path, numbers) -> str:
    from pypdf import PdfReader

    reader = PdfReader(path)
    # NFKC undoes the ligatures Chromium's fonts print ("ﬁ" -> "fi"); whitespace is collapsed.
    raw = "\n".join(reader.pages[n].extract_text() or "" for n in numbers)
    return " ".join(unicodedata.normalize("NFKC", raw).split())


def _image_count(obj, seen: set) -> int:
    """Image XObjects a page (or form) draws, forms followed once each; pypdf's ``page.images`` decodes every
    image to count it (23 s for the quick book's 41), this reads only the resource dictionaries."""
    resources = obj.get("/Resources")
    xobjects = resources.get_object().get("/XObject") if resources is not None else None
    count = 0
    for ref in (xobjects.get_object().values() if xobjects is not None else ()):
        target, key = ref.get_object(), getattr(ref, "idnum", id(ref))
        if target.get("/Subtype") == "/Image":
            count += 1
        elif target.get("/Subtype") == "/Form" and key not in seen:
            seen.add(key)
            count += _image_count(target, seen)
    return count


def _texts(jobs: dict) -> dict:
    """``{key: text}`` for ``{key: (path, page numbers or None for all)}``, two processes at once:
    pypdf's text extraction is pure Python and takes most of these tests' time."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from pypdf import PdfReader

    jobs = {k: (path, range(len(PdfReader(path).pages)) if numbers is None else list(numbers))
            for k, (path, numbers) in jobs.items()}
    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
        futures = {k: pool.submit(_extract, path, list(numbers)) for k, (path, numbers) in jobs.items()}
        return {k: f.result() for k, f in futures.items()}


def _title(notebook: Path) -> str:
    for cell in json.loads(notebook.read_text())["cells"]:
        if cell["cell_type"] == "markdown":
            for line in "".join(cell["source"]).splitlines():
                if line.startswith("# "):
                    return " ".join(unicodedata.normalize("NFKC", line[2:]).split())
    raise AssertionError(f"{notebook} has no '# ' title")


@pytest.fixture(scope="module")
def printed(quick_book):
    root = quick_book["root"]
    made = pdfmod.make_pdf(root, log=lambda *_: None)
    titles = {c.stem: _title(c.executed()) for c in list_chapters(root)}
    return {"root": root, "made": made, "titles": titles}


@needs_browser
def test_whole_book_pdf(printed):
    """Every page of the book, in order, with its bookmark; figures embedded; no TeX left in the pages that
    are not chapters (the chapters' text is read in test_chapter_pdfs: the same printed bytes)."""
    from pypdf import PdfReader

    made, titles = printed["made"], printed["titles"]
    assert made["book"] == printed["root"] / "_build" / "pdf" / pdfmod.BOOK_PDF
    reader = PdfReader(made["book"])
    pages = pdfmod.book_pages(printed["root"])
    assert max(40, len(pages)) <= len(reader.pages) <= 2000, len(reader.pages)
    marks = [(item.title, reader.get_destination_page_number(item)) for item in reader.outline]
    assert [t for t, _ in marks] == [pdfmod.page_title(p) for p in pages.values()]
    starts = [n for _, n in marks] + [len(reader.pages)]
    assert starts[0] == 0 and all(a < b for a, b in zip(starts, starts[1:])), starts
    missing = [t for t in titles.values() if not any(t in mark for mark, _ in marks)]
    assert not missing, f"chapter titles not among the whole book's bookmarks: {missing}"
    for chapter in titles:
        k = list(pages).index(f"book/executed/{chapter}")
        part = PdfReader(made["chapters"][chapter])
        assert starts[k + 1] - starts[k] == len(part.pages), f"{chapter}: not its own PDF's pages"
    others = [k for k, name in enumerate(pages) if Path(name).name not in titles]
    assert others, "the book has pages besides its chapters"
    numbers = [n for k in others for n in range(starts[k], starts[k + 1])]
    half = len(numbers) // 2
    text = " ".join(_texts({0: (made["book"], numbers[:half]), 1: (made["book"], numbers[half:])}).values())
    raw = [d for d in ("$$", "\\(", "\\[", "\\begin{") if d in text]
    assert not raw, f"untypeset TeX in the whole book's PDF: {raw}"
    figures = [f for page in pages.values() for f in re.findall(r'<img[^>]*\ssrc="[^"]*_images/([^"]+)"',
                                                                   page.read_text())]
    assert figures, "the book's pages have no figures"
    images = sum(_image_count(p, set()) for p in reader.pages)
    assert images >= len(figures), f"{images} embedded images for {len(figures)} figures"


@needs_browser
def test_chapter_pdfs(printed):
    from pypdf import PdfReader

    made, titles = printed["made"], printed["titles"]
    assert set(made["chapters"]) == set(titles)
    for stem in titles:
        path = printed["root"] / "_build" / "pdf" / f"{stem}.pdf"
        assert made["chapters"][stem] == path and path.is_file() and len(PdfReader(path).pages) >= 1
    texts = _texts({stem: (made["chapters"][stem], None) for stem in titles})
    for stem, title in titles.items():
        text, path = texts[stem], made["chapters"][stem]
        assert title in text, f"{path.name} lacks its title {title!r}"
        assert "\\begin{" not in text and "$$" not in text, f"untypeset TeX in {path.name}"
    leftovers = list((printed["root"] / "_build").rglob("*.tmp"))
    assert not leftovers, f"half-written files left: {leftovers}"


@needs_browser
def test_html_links_to_the_pdfs(printed):
    html = printed["root"] / "_build" / "html"
    front = pdfmod.chapter_pages(printed["root"])
    for stem, page in front.items():
        wanted = [f"{stem}.pdf"] + ([pdfmod.BOOK_PDF] if stem == "00-preface" else [])
        hrefs = re.findall(r'href="([^"]+\.pdf)"', page.read_text())
        for name in wanted:
            links = [h for h in hrefs if h.endswith("/" + name)]
            assert links, f"{page.name} has no link to {name}"
            target = (page.parent / links[0]).resolve()
            assert target == (html / pdfmod.HTML_PDF_DIR / name).resolve()
            assert target.is_file() and target.read_bytes()[:5] == b"%PDF-", f"{page.name}: {links[0]} missing"


# --- unit tests: no Chromium, no book ---------------------------------------------------------


def test_link_path_matches_where_the_pdfs_are_copied():
    ext = _load_ext("chapter_sources")
    assert Path(ext.PDF_DIR) == pdfmod.HTML_PDF_DIR
    assert ext.BOOK_PDF == pdfmod.BOOK_PDF


def test_missing_chromium_names_the_install_command(monkeypatch):
    monkeypatch.setattr(pdfmod.shutil, "which", lambda name: None)
    with pytest.raises(pdfmod.PdfFailed, match=re.escape("apt-get install -y chromium")):
        pdfmod.find_chromium()
    with pytest.raises(pdfmod.PdfFailed, match=re.escape("apt-get install -y chromium")):
        pdfmod.make_pdf(ROOT, log=lambda *_: None)


def test_jobs_out_of_range_is_refused_before_any_work(capsys):
    from saddlebook.publish.cli import main

    assert main(["pdf", "--jobs", "0"]) == 2
    assert "parameter 'jobs' = 0" in capsys.readouterr().err
