"""Each chapter's cache key covers only the package modules the chapter imports.

A toy package in a temporary folder stands in for saddlebook; nothing of it is imported.
"""
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

from saddlebook.publish import execute as execute_mod
from saddlebook.publish._imports import package_modules
from saddlebook.publish.execute import cache_key, modules_digest

TOY = {
    "__init__.py": "from .a import x\n",
    "a.py": "x = 1\n",
    "b.py": "def f():\n    from .c import f\n    return f()\n",
    "c.py": "def f():\n    return 2\n",
    "unused.py": "import pkg.c\n",
    "sub/__init__.py": "from . import d\n",
    "sub/d.py": "from ..a import x\n",
    "sub/e.py": "from pkg.sub.f import g\n",
    "sub/f.py": "g = 3\n",
    "publish/__init__.py": "",
    "publish/x.py": "from .. import b\n",
    "uses_publish.py": "from .publish import x\n",
}


def chapter_md(*cells: str) -> str:
    body = "\n".join(f"```{{code-cell}} ipython3\n{textwrap.dedent(c).strip()}\n```\n" for c in cells)
    return f"---\njupytext:\n  formats: md:myst,ipynb\n---\n\n# Toy\n\nSome text.\n\n{body}"


@pytest.fixture()
def pkg(tmp_path):
    root = tmp_path / "pkg"
    for rel, text in TOY.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def modules(pkg: Path, *cells: str) -> list[str]:
    source = pkg.parent / "chapter.md"
    source.write_text(chapter_md(*cells))
    return [p.relative_to(pkg).as_posix() for p in package_modules(source, pkg)]


def test_a_chapter_gets_what_it_imports_transitively_and_nothing_else(pkg):
    got = modules(pkg, ":tags: [validate]\n\nimport math\nimport pkg.b")
    # b's import sits inside a function; __init__ comes with any submodule, but only
    # re-exports, so what it imports counts only for the names a chapter asks of it
    assert got == ["__init__.py", "b.py", "c.py"]
    assert modules(pkg, "import numpy as np\nprint(np.pi)") == []
    assert modules(pkg, "import pkg as P") == ["__init__.py"]
    assert modules(pkg, "import pkg as P\nP.x + 1") == ["__init__.py", "a.py"]
    assert modules(pkg, "import pkg as P\nprint(P)") == ["__init__.py", "a.py"]  # used bare: all of it


def test_from_package_import_pulls_in_submodules_and_subpackages(pkg):
    assert modules(pkg, "from pkg import sub") == ["__init__.py", "a.py", "sub/__init__.py", "sub/d.py"]
    assert modules(pkg, "from pkg import x, c") == ["__init__.py", "a.py", "c.py"]  # x: a name in __init__
    assert modules(pkg, "from pkg.sub.e import g") == ["__init__.py", "sub/__init__.py", "sub/e.py", "sub/f.py"]


def test_relative_imports_resolve_against_the_module_package(pkg):
    (pkg / "sub" / "__init__.py").write_text("")
    # d's `from ..a import x` is pkg.a, not pkg.sub.a
    assert modules(pkg, "import pkg.sub.d") == ["__init__.py", "a.py", "sub/__init__.py", "sub/d.py"]
    (pkg / "__init__.py").write_text("")
    assert modules(pkg, "import pkg.sub.d") == ["__init__.py", "a.py", "sub/__init__.py", "sub/d.py"]
    assert modules(pkg, "from pkg.sub import f") == ["__init__.py", "sub/__init__.py", "sub/f.py"]


def test_magic_lines_do_not_hide_a_cells_imports(pkg):
    got = modules(pkg, "%matplotlib inline\nimport pkg.b", "for i in range(2):\n    %time pass\nfrom pkg import c")
    assert got == ["__init__.py", "b.py", "c.py"]
    # a cell that is not Python at all is skipped, the others still count
    assert modules(pkg, "%%bash\necho import pkg.sub", "def broken(:\n    import pkg.sub", "import pkg.c") == [
        "__init__.py",
        "c.py",
    ]


def test_publish_is_left_out_unless_the_chapter_imports_it(pkg):
    assert modules(pkg, "import pkg.uses_publish") == ["__init__.py", "uses_publish.py"]
    assert modules(pkg, "from pkg.publish import x") == [
        "__init__.py",
        "b.py",
        "c.py",
        "publish/__init__.py",
        "publish/x.py",
    ]


def test_the_digest_changes_only_with_modules_the_chapter_imports(pkg):
    source = pkg.parent / "chapter.md"
    source.write_text(chapter_md("import pkg.b"))
    d0 = modules_digest(source, pkg)
    for rel in ("unused.py", "a.py", "sub/d.py", "publish/x.py"):
        (pkg / rel).write_text((pkg / rel).read_text() + "# edit\n")
        assert modules_digest(source, pkg) == d0, rel
    (pkg / "new.py").write_text("y = 0\n")
    assert modules_digest(source, pkg) == d0
    for rel in ("c.py", "b.py", "__init__.py"):
        (pkg / rel).write_text((pkg / rel).read_text() + "# edit\n")
        d1 = modules_digest(source, pkg)
        assert d1 != d0, rel
        d0 = d1
    (pkg / "c.py").rename(pkg / "c2.py")  # a module gone is a change too
    assert modules_digest(source, pkg) != d0


def test_cache_key_uses_the_chapter_modules(pkg, tmp_path, monkeypatch):
    monkeypatch.setattr(execute_mod, "_PACKAGE", pkg)
    (tmp_path / "chapters").mkdir()
    one, two = (tmp_path / "chapters" / f"{s}.md" for s in ("01-b", "02-sub"))
    one.write_text(chapter_md("import pkg.b"))
    two.write_text(chapter_md("from pkg import sub"))
    ch1, ch2 = (SimpleNamespace(source=s, root=tmp_path) for s in (one, two))
    k1, k2 = cache_key(ch1, {"v": 1}), cache_key(ch2, {"v": 1})
    assert cache_key(ch1, {"v": 2}) != k1
    (pkg / "c.py").write_text("def f():\n    return 3\n")
    assert cache_key(ch1, {"v": 1}) != k1 and cache_key(ch2, {"v": 1}) == k2
    k1 = cache_key(ch1, {"v": 1})
    (pkg / "sub" / "d.py").write_text("from ..a import x\ny = x\n")
    assert cache_key(ch1, {"v": 1}) == k1 and cache_key(ch2, {"v": 1}) != k2
    k2 = cache_key(ch2, {"v": 1})
    (tmp_path / "requirements.txt").write_text("numpy==2.0\n")
    assert cache_key(ch1, {"v": 1}) != k1 and cache_key(ch2, {"v": 1}) != k2


def test_the_real_package_inits_only_reexport():
    """The rule that makes the keys narrow: an ``__init__`` holds imports, a docstring
    and ``__all__``, nothing that computes, so it is followed only for the names asked."""
    import ast

    import saddlebook

    root = Path(saddlebook.__file__).parent
    for init in root.rglob("__init__.py"):
        for node in ast.parse(init.read_text()).body:
            ok = (
                isinstance(node, (ast.Import, ast.ImportFrom))
                or (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))
                or (isinstance(node, (ast.Assign, ast.AugAssign)) and "__all__" in ast.dump(node))
            )
            assert ok, f"{init.relative_to(root)} line {node.lineno} does more than re-export"


def test_real_chapters_depend_on_parts_of_the_package():
    import saddlebook

    root = Path(saddlebook.__file__).parent
    chapters = sorted((root.parents[1] / "chapters").glob("*.md"))
    if not chapters:
        pytest.skip("no chapters beside the package (installed elsewhere)")
    every = [p for p in root.rglob("*.py") if p.relative_to(root).parts[0] != "publish"]
    counts = {c.stem: len(package_modules(c, root)) for c in chapters}
    assert max(counts.values()) < len(every), counts
    preface = package_modules(root.parents[1] / "chapters" / "00-preface.md", root)
    assert not any("dynamics" in p.parts for p in preface)
