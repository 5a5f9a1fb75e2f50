"""The publishing pipeline on a tiny throw-away book: execution, caching,
parameter refusal, failure handling. Runs real kernels through papermill."""
import subprocess
import sys
import textwrap

import pytest

from saddlebook.errors import ParameterError
from saddlebook.publish.chapters import Chapter, chapters, resolve
from saddlebook.publish.execute import ChapterFailed, cache_key, execute
from saddlebook.publish.pages import verification_markdown

CHAPTER = textwrap.dedent(
    """\
    ---
    jupytext:
      formats: md:myst,ipynb
      text_representation:
        extension: .md
        format_name: myst
    kernelspec:
      display_name: Python 3
      language: python
      name: saddlebook
    ---

    # Toy

    ```{code-cell} ipython3
    :tags: [parameters]

    value = 1.0
    ```

    ```{code-cell} ipython3
    :tags: [validate]

    from saddlebook.book import parameters as P
    value = P.real("value", value, 0, 10)
    ```

    ```{code-cell} ipython3
    from saddlebook.book.checks import check
    check("value below five", value, hi=5, source="toy", kind="claim")
    ```
    """
)


@pytest.fixture()
def book(tmp_path):
    (tmp_path / "chapters").mkdir()
    (tmp_path / "chapters" / "01-toy.md").write_text(CHAPTER)
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: book/executed/01-toy\n"
    )
    return tmp_path


def cli(root, *args):
    return subprocess.run(
        [sys.executable, "-m", "saddlebook", *args], cwd=root, capture_output=True, text=True
    )


def test_toc_is_the_chapter_list(book):
    assert [c.stem for c in chapters(book)] == ["01-toy"]
    assert resolve("01", book).stem == "01-toy"
    with pytest.raises(ParameterError, match="unknown; chapters: 01-toy"):
        resolve("07", book)
    (book / "chapters" / "02-orphan.md").write_text(CHAPTER)
    with pytest.raises(ValueError, match="not listed in _toc.yml: 02-orphan"):
        chapters(book)


def test_defaults_and_validation(book):
    ch = Chapter(book, "01-toy")
    assert ch.defaults() == {"value": 1.0}
    assert ch.validate({"value": 2.0}) == {"value": 2.0}
    with pytest.raises(ParameterError, match="no parameter 'colour'; its parameters are: value"):
        ch.validate({"colour": 1})
    with pytest.raises(ParameterError, match="'value' = 11"):
        ch.validate({"value": 11})


def test_execute_cache_and_failure_keeps_last_good(book):
    ch = Chapter(book, "01-toy")
    first = execute(ch)
    assert first.executed and first.record["checks"][0]["passed"]
    assert first.record["parameters"] == {"value": 1.0}
    executed = ch.executed()
    assert executed.is_file() and ch.paired.is_file()
    # the paired notebook holds inputs only: papermill never wrote into it
    assert '"outputs": []' in ch.paired.read_text() or '"outputs"' not in ch.paired.read_text()

    again = execute(ch)
    assert not again.executed  # nothing changed: cached

    before = executed.read_bytes(), ch.record().read_bytes()
    with pytest.raises(ChapterFailed, match=r"chapter 01-toy failed in cell \d+.*value below five"):
        execute(ch, {"value": 7.0})
    assert (executed.read_bytes(), ch.record().read_bytes()) == before
    assert not list(executed.parent.glob(".*")), "temporary files left behind"

    # overriding a parameter changes the key and re-executes; the page says so
    third = execute(ch, {"value": 2.0})
    assert third.executed and third.record["overrides"] == {"value": 2.0}
    text = executed.read_text()
    assert "overridden from the command line" in text and "remove-cell" in text


def test_a_glued_numpy_scalar_fails_the_chapter_and_keeps_last_good(book):
    ch = Chapter(book, "01-toy")
    execute(ch)
    before = ch.executed().read_bytes()
    source = ch.source.read_text()
    ch.source.write_text(source + textwrap.dedent("""
        ```{code-cell} ipython3
        import numpy as np
        from myst_nb import glue
        glue("fine", 0.5, display=False)
        glue("raw-scalar", np.float64(0.5), display=False)
        ```
        """))
    with pytest.raises(ChapterFailed, match=r"glued numpy scalars \['raw-scalar'\]"):
        execute(ch)
    assert ch.executed().read_bytes() == before
    assert not list(ch.executed().parent.glob(".*")), "temporary files left behind"


def test_cache_key_tracks_source_and_parameters(book):
    ch = Chapter(book, "01-toy")
    k1 = cache_key(ch, {"value": 1.0})
    assert cache_key(ch, {"value": 2.0}) != k1
    ch.source.write_text(CHAPTER.replace("# Toy", "# Toy, edited"))
    assert cache_key(ch, {"value": 1.0}) != k1


def test_cli_refuses_bad_input_before_running(book):
    r = cli(book, "run", "09")
    assert r.returncode == 2 and "chapter '09' is unknown" in r.stderr
    r = cli(book, "run", "01", "-p", "colour", "red")
    assert r.returncode == 2 and "no parameter 'colour'" in r.stderr
    r = cli(book, "run", "01", "-p", "value", "-3")
    assert r.returncode == 2 and "'value' = -3" in r.stderr
    assert not (book / "book" / "executed" / "01-toy.ipynb").exists()


def test_cli_run_reports_failing_check(book):
    r = cli(book, "run", "01", "--no-html")
    assert r.returncode == 0, r.stderr
    r = cli(book, "run", "01", "-p", "value", "8", "--no-html")
    assert r.returncode == 1
    assert "chapter 01-toy failed" in r.stderr and "CheckFailed" in r.stderr
    assert "last good" in r.stderr


def test_verification_table_escapes_and_counts():
    rec = {
        "chapter": "01-x", "parameters": {"a": 1}, "overrides": {},
        "checks": [{"name": "a|b", "measured": 1.0, "expected": 1.0, "rtol": 0, "atol": 1e-12,
                    "lo": None, "hi": None, "passed": True, "source": "NOTES §3", "kind": "claim",
                    "margin": 1.0},
                   {"name": "algebra", "measured": 0.0, "expected": None, "rtol": None, "atol": None,
                    "lo": None, "hi": 1e-12, "passed": True, "source": "derived here",
                    "kind": "consistency", "margin": 1.0}],
    }
    md = verification_markdown([rec])
    assert "**2 of 2 checks passed**" in md and "a\\|b" in md
    assert "1 claims and 1 consistency checks" in md
    assert "Claims (1)" in md and "Consistency checks (1)" in md
    assert "No falsification record" in md
    fals = {"made_at": "2026-12-01", "commit": "0123456789abcdef", "setting": "quick", "seconds": 4.0,
            "counterfactuals": {"phi_zero": "φ ≡ 0"},
            "chapters": {"01-x": {"baseline": "completed",
                                  "runs": {"phi_zero": {"status": "completed", "seconds": 1.0, "failed": []}},
                                  "claims": {"a|b": {"baseline_passed": True, "broken_by": []}}}}}
    md = verification_markdown([rec], fals)
    assert "**0 of the 1 claim checks of this build failed" in md
    assert "- 01-x: a\\|b" in md  # listed by name as not broken
    fals["chapters"]["01-x"]["claims"]["a|b"]["broken_by"] = ["phi_zero"]
    md = verification_markdown([rec], fals)
    assert "**1 of the 1 claim checks" in md and "| `phi_zero` |" in md
    assert "No record of other draws" in md
    drawn = {"made_at": "2026-12-02", "commit": "fedcba9876543210",
             "chapters": {"01-x": {"runs": [{"overrides": {"seed": 1}, "status": "completed"},
                                            {"overrides": {"seed": 1, "quick": True}, "status": "completed"}],
                                   "checks": {"a|b": {"kind": "claim", "runs": 2, "passed": 1, "min_margin": -0.5,
                                                      "failed_at": [{"seed": 1, "quick": True}]}}}}}
    md = verification_markdown([rec], fals, drawn)
    assert "| 01-x | seed=1 | 2 | 0 | 0 of 1 |" in md  # the draw, once for both settings
    assert "**1 of 2, margin ≥ -0.50**" in md  # a claim that failed somewhere stands out in its row
    assert "- 01-x, claim: a\\|b (failed at seed=1, quick=True)" in md
    drawn["chapters"]["01-x"]["checks"]["a|b"].update(passed=2, min_margin=0.5, failed_at=[])
    md = verification_markdown([rec], fals, drawn)
    assert "**No check failed at any of these runs.**" in md and "| 2 of 2, margin ≥ 0.50 |" in md


def test_incremental_rebuild_executes_only_what_changed(book):
    from saddlebook.publish.build import execute_all

    (book / "chapters" / "02-toy.md").write_text(CHAPTER.replace("# Toy", "# Toy two"))
    (book / "_toc.yml").write_text(
        "format: jb-book\nroot: book/executed/01-toy\nchapters:\n  - file: book/executed/02-toy\n"
    )
    def ran():
        return sorted(r.chapter for r in execute_all(book, log=lambda *_: None))

    assert ran() == ["01-toy", "02-toy"]
    assert ran() == []  # nothing changed: nothing re-executes
    src = book / "chapters" / "02-toy.md"
    src.write_text(src.read_text().replace("# Toy two", "# Toy two, edited"))
    assert ran() == ["02-toy"]  # one chapter edited: only it re-executes
    assert sorted(r.chapter for r in execute_all(book, common={"value": 3.0}, log=lambda *_: None)) == [
        "01-toy", "02-toy"
    ]  # parameters changed: both re-execute


def test_an_edit_changes_the_key_of_chapters_that_use_the_module_only(book, tmp_path, monkeypatch):
    import shutil

    from saddlebook.publish import execute as execute_mod

    pkg = tmp_path / "saddlebook"  # the key finds imports by the package's name
    shutil.copytree(execute_mod._PACKAGE, pkg, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(execute_mod, "_PACKAGE", pkg)
    ch = Chapter(book, "01-toy")
    k0 = cache_key(ch, {"value": 1.0})
    (pkg / "publish" / "cli.py").write_text((pkg / "publish" / "cli.py").read_text() + "\n# edit\n")
    assert cache_key(ch, {"value": 1.0}) == k0
    # a module the chapter does not use leaves its key alone; one it uses changes it
    (pkg / "dynamics" / "_reference.py").write_text((pkg / "dynamics" / "_reference.py").read_text() + "\n# edit\n")
    assert cache_key(ch, {"value": 1.0}) == k0
    (pkg / "book" / "parameters.py").write_text((pkg / "book" / "parameters.py").read_text() + "\n# edit\n")
    assert cache_key(ch, {"value": 1.0}) != k0


def test_parameter_line_papermill_cannot_parse_is_refused(book):
    src = book / "chapters" / "01-toy.md"
    src.write_text(CHAPTER.replace("value = 1.0", "value = 1.0  # r = 3 here"))
    with pytest.raises(ValueError, match="papermill cannot read parameter.*value"):
        resolve("01", book).defaults()


def test_run_alone_pages_execute_after_all_others(book):
    """A timing page (front matter saddlebook.run_alone) starts only after every other chapter ended."""
    from saddlebook.publish.build import execute_all

    stamp = book / "stamps"
    stamp.mkdir()
    slow = CHAPTER.replace(
        'check("value below five"',
        f'import time; t0 = time.time(); time.sleep(1.5); open(r"{stamp}/slow", "w").write(f"{{t0}} {{time.time()}}")\n'
        'check("value below five"',
    )
    timed = CHAPTER.replace(
        "  name: saddlebook\n---", "  name: saddlebook\nsaddlebook:\n  run_alone: true\n---"
    ).replace(
        'check("value below five"',
        f'import time; open(r"{stamp}/timed", "w").write(f"{{time.time()}}")\ncheck("value below five"',
    )
    (book / "chapters" / "01-toy.md").write_text(timed)  # listed first, must still run last
    (book / "chapters" / "02-slow.md").write_text(slow)
    (book / "chapters" / "03-slow.md").write_text(slow.replace("/slow", "/slow3"))
    (book / "_toc.yml").write_text(
        "format: jb-book\nroot: book/executed/01-toy\nchapters:\n"
        "  - file: book/executed/02-slow\n  - file: book/executed/03-slow\n"
    )
    assert [c.stem for c in chapters(book) if c.run_alone] == ["01-toy"]
    execute_all(book, jobs=2, log=lambda *_: None)
    ends = [float((stamp / n).read_text().split()[1]) for n in ("slow", "slow3")]
    assert float((stamp / "timed").read_text()) >= max(ends)


def test_build_runs_on_a_dask_scheduler_given_by_its_address(book):
    """`build --scheduler ADDRESS`: the chapters are tasks on that cluster (here one in-process worker)."""
    from dask.distributed import LocalCluster

    from saddlebook.publish.build import execute_all

    lines = []
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        done = execute_all(book, scheduler=cluster.scheduler_address, log=lines.append)
    assert [r.chapter for r in done] == ["01-toy"] and done[0].executed
    assert any(f"Dask scheduler at {cluster.scheduler_address}" in line for line in lines)


def test_scheduler_nobody_answers_and_jobs_with_scheduler_are_refused(book, monkeypatch):
    from saddlebook.publish import _cluster
    from saddlebook.publish.build import execute_all

    monkeypatch.setattr(_cluster, "SCHEDULER_TIMEOUT", "1s")
    with pytest.raises(ParameterError, match="'scheduler' = 'tcp://127.0.0.1:9'"):
        execute_all(book, scheduler="tcp://127.0.0.1:9", log=lambda *_: None)
    with pytest.raises(ParameterError, match="'jobs'.*'scheduler'"):
        execute_all(book, scheduler="tcp://127.0.0.1:9", jobs=2, log=lambda *_: None)
    assert not (book / "book" / "executed" / "01-toy.ipynb").exists()
