"""Every package module is documented on the book's API page."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_module_has_an_automodule_entry():
    page = (ROOT / "book" / "api.md").read_text()
    modules = sorted(p.stem for p in (ROOT / "src" / "saddlebook").glob("*.py") if not p.stem.startswith("_"))
    missing = [m for m in modules if f".. automodule:: saddlebook.{m}\n" not in page]
    assert not missing, f"book/api.md lacks automodule entries for: {', '.join(missing)}"
