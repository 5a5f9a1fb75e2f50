"""Shared fixtures. ``quick_book`` is a throw-away copy of the whole book,
every chapter executed in its quick setting and the HTML built, so the tests
exercise the real pipeline without touching book/executed or _build."""
import os
import shutil

import pytest

from saddlebook.publish.build import build_html, execute_all, stage
from saddlebook.publish.chapters import find_root

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def needs_chromium(what: str):
    """Skip without Debian's headless Chromium, unless CI requires it (SADDLEBOOK_REQUIRE_BROWSER=1)."""
    return pytest.mark.skipif(
        CHROMIUM is None and os.environ.get("SADDLEBOOK_REQUIRE_BROWSER") != "1",
        reason=f"headless Chromium not found: install it with `apt-get install -y chromium` (Debian) to run {what}",
    )


@pytest.fixture(scope="session")
def quick_book(tmp_path_factory):
    dest = stage(find_root(), tmp_path_factory.mktemp("book"))
    results = execute_all(dest, common={"quick": True}, log=lambda *_: None)
    index = build_html(dest, log=lambda *_: None)
    return {"root": dest, "index": index, "results": {r.chapter: r for r in results}}


# Files whose tests execute notebooks: marked ``book`` so that ``make unit`` can leave them out.
_BOOK_FILES = {"test_chapters.py", "test_classroom.py", "test_browser.py", "test_fuzz.py",
               "test_pipeline.py", "test_falsify.py", "test_draws.py"}


def pytest_collection_modifyitems(items):
    for item in items:
        if item.path.name in _BOOK_FILES or "quick_book" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.book)
