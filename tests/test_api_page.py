"""Every implementation module of the package is documented on the book's API page."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "saddlebook"


def test_every_module_has_an_automodule_entry():
    page = (ROOT / "book" / "api.md").read_text()
    modules = sorted(
        ".".join(p.relative_to(PACKAGE).with_suffix("").parts)
        for p in PACKAGE.rglob("*.py")
        if p.name != "__init__.py" and p.name != "__main__.py" and p.relative_to(PACKAGE).parts[0] != "publish"
    )
    missing = [m for m in modules if f".. automodule:: saddlebook.{m}\n" not in page]
    assert not missing, f"book/api.md lacks automodule entries for: {', '.join(missing)}"
