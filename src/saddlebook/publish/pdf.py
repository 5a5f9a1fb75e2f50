"""The PDF edition: one PDF per chapter, and the whole book as one PDF, printed by headless Chromium.

Every page of the HTML build (the theme has print styles) is printed to PDF;
each chapter's is kept as ``_build/pdf/<stem>.pdf``, and all pages, in the
table of contents' order, are concatenated into ``_build/pdf/saddlebook.pdf``
with a bookmark per page. (Printing the one-page ``singlehtml`` edition took
two and a half minutes for its ~500 pages in one Chromium; the pages printed
side by side take a fraction of that.) The PDFs are then copied into the HTML
output under ``_static/pdf/``, where the download menu of every chapter page
(and, for the whole book, of the front page) links to them
(book/_ext/chapter_sources.py). So the HTML must be built first (``python -m
saddlebook build``).

Chromium reads the pages from ``file://`` with every host name unresolvable,
so nothing is fetched from outside the machine (MathJax is served from the
built site, book/_ext/offline.py). Each PDF is printed to a temporary file and
moved into place, so a failed or interrupted run leaves no half-written PDF.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

from .chapters import chapters as list_chapters

BOOK_PDF = "saddlebook.pdf"
HTML_PDF_DIR = Path("_static") / "pdf"  # inside _build/html; book/_ext/chapter_sources.py links here
INSTALL = "apt-get install -y chromium"
PRINT_TIMEOUT = 300  # seconds per PDF, real time

_CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-extensions",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--host-resolver-rules=MAP * ~NOTFOUND",  # no request can leave the machine
    "--virtual-time-budget=60000",  # let MathJax typeset and images load before printing
    "--run-all-compositor-stages-before-draw",
    "--no-pdf-header-footer",
)


class PdfFailed(RuntimeError):
    """Chromium is missing, or it did not print a PDF."""


def find_chromium() -> str:
    """The Chromium executable on PATH; a clear error naming the install command if none."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    raise PdfFailed(f"headless Chromium not found on PATH; install it with `{INSTALL}` (Debian)")


def _replace(src: Path, dest: Path) -> None:
    """Copy ``src`` to ``dest`` through a temporary file in ``dest``'s folder (no half-written file)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the copies in the HTML output are served
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def print_pdf(page: Path, out: Path, *, chromium: str | None = None, timeout: float = PRINT_TIMEOUT) -> Path:
    """Print the HTML file ``page`` to ``out`` with headless Chromium."""
    chromium = chromium or find_chromium()
    if not page.is_file():
        raise PdfFailed(f"{page} does not exist")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="saddlebook-chromium-") as profile:
        tmp = Path(profile) / "print.pdf"
        cmd = [chromium, *_CHROMIUM_ARGS, f"--user-data-dir={profile}/profile",
               f"--print-to-pdf={tmp}", page.resolve().as_uri()]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise PdfFailed(f"Chromium did not print {page.name} within {timeout:.0f} s") from None
        ok = tmp.is_file() and tmp.stat().st_size > 0 and tmp.read_bytes()[:5] == b"%PDF-"
        if proc.returncode != 0 or not ok:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-20:])
            raise PdfFailed(f"Chromium failed to print {page} (exit {proc.returncode}):\n{tail}")
        _replace(tmp, out)
    return out


def book_pages(root: Path) -> dict[str, Path]:
    """Every page of the HTML build in the table of contents' reading order, by its document name."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    names = [toc["root"]]
    for part in toc.get("parts", [{"chapters": toc.get("chapters", [])}]):
        names += [entry["file"] for entry in part.get("chapters", [])]
    html = root / "_build" / "html"
    return {Path(n).with_suffix("").as_posix(): html / f"{Path(n).with_suffix('').as_posix()}.html" for n in names}


def chapter_pages(root: Path) -> dict[str, Path]:
    """Each chapter's page of the HTML build, by stem, in reading order."""
    html = root / "_build" / "html"
    return {c.stem: html / "book" / "executed" / f"{c.stem}.html" for c in list_chapters(root)}


def page_title(page: Path) -> str:
    """The HTML page's ``<title>``, without the book's name after it."""
    import html
    import re

    found = re.search(r"<title>(.*?)</title>", page.read_text(errors="replace"), re.S)
    title = html.unescape(found.group(1)) if found else page.stem
    return " ".join(title.split()).rsplit(" — ", 1)[0]


def merge(parts: list[tuple[str, Path]], out: Path) -> Path:
    """Concatenate the PDFs of ``parts`` (pairs of a bookmark title and a PDF) into ``out``."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for title, part in parts:
        start = len(writer.pages)
        writer.append(PdfReader(part))
        writer.add_outline_item(title, start)
    with tempfile.TemporaryDirectory(prefix="saddlebook-merge-") as tmp:
        path = Path(tmp) / out.name
        with path.open("wb") as fh:
            writer.write(fh)
        _replace(path, out)
    return out


def make_pdf(root: Path, *, jobs: int | None = None, log=print) -> dict:
    """Print every page of the book to PDF, chapters to ``_build/pdf``; the whole book is their concatenation.

    Each page of the HTML build (the theme has print styles) is printed by its
    own headless Chromium, ``jobs`` at a time; the chapters' PDFs are kept as
    ``_build/pdf/<stem>.pdf``, and every page's PDF, in the table of
    contents' order and with a bookmark each, makes ``_build/pdf/saddlebook.pdf``.
    All are copied into the HTML output. Returns ``{"book": Path, "chapters":
    {stem: Path}, "html": Path}`` (the last is the folder in the HTML output
    that holds the copies).
    """
    chromium = find_chromium()  # before anything else: a missing browser fails in a second
    pages = book_pages(root)
    missing = [p for p in pages.values() if not p.is_file()]
    if missing:
        raise PdfFailed(f"{missing[0]} does not exist: build the HTML first (python -m saddlebook build)")
    chapters = {c.stem: f"book/executed/{c.stem}" for c in list_chapters(root)}
    out = root / "_build" / "pdf"
    # Printing mostly waits (a quarter of a core per Chromium, measured here): more processes than cores pay.
    jobs = max(1, jobs or min(len(pages), 2 * (os.cpu_count() or 1) + 2))
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="saddlebook-pages-") as tmp:
        def one(name: str) -> Path:
            stem = Path(name).name
            target = out / f"{stem}.pdf" if name in chapters.values() else Path(tmp) / f"{stem}.pdf"
            return print_pdf(pages[name], target, chromium=chromium)

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = {name: pool.submit(one, name) for name in pages}
            printed = {name: fut.result() for name, fut in futures.items()}
        book = merge([(page_title(pages[name]), path) for name, path in printed.items()], out / BOOK_PDF)
    log(f"printed {len(pages)} page(s) with {jobs} Chromium process(es) and merged them in "
        f"{time.perf_counter() - start:.1f} s (whole book {book.stat().st_size / 1e6:.1f} MB)")
    kept = {stem: out / f"{stem}.pdf" for stem in chapters}
    html_dir = root / "_build" / "html" / HTML_PDF_DIR
    for path in [book, *kept.values()]:
        _replace(path, html_dir / path.name)
    return {"book": book, "chapters": kept, "html": html_dir}
