"""Bad command-line input is refused cleanly, before anything runs, and
nothing already built is replaced.

Bad values are generated from each chapter's own defaults (a value of the
wrong type for every parameter, plus an out-of-range one), so a parameter
added later is fuzzed too.
"""
import hashlib
import subprocess
import sys

import pytest

from saddlebook.publish.chapters import chapters
from saddlebook.publish.cli import main


def _bad_values(default):
    if isinstance(default, bool):
        return ["yes", "2"]
    if isinstance(default, int):
        return ["abc", "2.5", "-1000000000"]
    if isinstance(default, float):
        return ["abc", "-1e300", "1e300"]
    if isinstance(default, str):
        return ["12345", "no_such_value_xyz"]
    if isinstance(default, (list, tuple)):
        return ["abc", "[-1e300]"]
    return ["abc"]


def _cases(root):
    cases = []
    for ch in chapters(root):
        for name, default in ch.defaults().items():
            for value in _bad_values(default):
                cases.append((ch.stem, name, value))
    return cases


def _snapshot(root):
    digest = {}
    for folder in (root / "book" / "executed", root / "_build" / "html"):
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                digest[path] = (path.stat().st_mtime_ns, hashlib.sha256(path.read_bytes()).hexdigest())
    return digest


def test_bad_parameters_are_refused_and_nothing_is_replaced(quick_book, monkeypatch, capsys):
    root = quick_book["root"]
    monkeypatch.chdir(root)
    before = _snapshot(root)
    cases = _cases(root)
    assert len(cases) >= 30, f"only {len(cases)} fuzz cases"
    accepted = []
    for stem, name, value in cases:
        code = main(["run", stem, "-p", name, value])
        err = capsys.readouterr().err
        if code != 2 or f"'{name}" not in err:
            accepted.append(f"{stem} -p {name} {value}: exit {code}, stderr: {err.strip()[:200]}")
    assert not accepted, "bad values not refused cleanly:\n" + "\n".join(accepted)
    assert _snapshot(root) == before


@pytest.mark.parametrize(
    "argv, message",
    [
        (["run", "99"], "chapter '99' is unknown"),
        (["run", "0"], "is ambiguous"),
        (["run", "01", "-p", "no_such_parameter", "1"], "no parameter 'no_such_parameter'"),
        (["build", "--jobs", "0"], "'jobs'"),
    ],
)
def test_bad_commands_exit_2_with_message(quick_book, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(quick_book["root"])
    before = _snapshot(quick_book["root"])
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert _snapshot(quick_book["root"]) == before


def test_exit_code_through_a_real_process(quick_book):
    r = subprocess.run(
        [sys.executable, "-m", "saddlebook", "run", "01", "-p", "quick", "maybe"],
        cwd=quick_book["root"], capture_output=True, text=True,
    )
    assert r.returncode == 2 and "'quick'" in r.stderr
