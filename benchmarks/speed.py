"""Cold build and test-suite times of this checkout, and of an earlier revision, printed (never asserted).

    .venv/bin/python benchmarks/speed.py build [--rev REV]   # cold `python -m saddlebook build`, then `pdf`
    .venv/bin/python benchmarks/speed.py tests [--rev REV]   # `python -m pytest -q` (the whole suite)

Each measurement runs in a throw-away copy: the working tree as it is, and
with ``--rev`` also ``git worktree`` of that revision, one after the other on
this machine, with this ``.venv`` (the revision's own package on
``PYTHONPATH``). ``build`` prints the execution time of every chapter and of
the Performance page (from their records), the HTML and PDF steps and the
total; ``tests`` prints the suite's time. Both print after/before ratios.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _copy_tree(dest: Path, rev: str | None) -> Path:
    if rev:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-f", str(dest), rev], check=True,
                       capture_output=True)
    else:
        ignore = shutil.ignore_patterns(".venv", "_build", "executed", "generated", "*.ipynb", "__pycache__", ".git")
        shutil.copytree(ROOT, dest, ignore=ignore)
    (dest / ".venv").unlink(missing_ok=True)
    os.symlink(ROOT / ".venv", dest / ".venv")
    return dest


def _run(tree: Path, args: list[str]) -> float:
    env = dict(os.environ, PYTHONPATH=str(tree / "src"))
    start = time.perf_counter()
    subprocess.run([sys.executable, *args], cwd=tree, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.STDOUT)
    return time.perf_counter() - start


def measure_build(tree: Path) -> dict:
    out = {"build": _run(tree, ["-m", "saddlebook", "build"]), "pdf": _run(tree, ["-m", "saddlebook", "pdf"])}
    for rec in sorted((tree / "book" / "executed").glob("*.json")):
        out[rec.stem] = json.loads(rec.read_text())["seconds"]
    return out


def measure_tests(tree: Path) -> dict:
    return {"tests": _run(tree, ["-m", "pytest", "-q", "-p", "no:cacheprovider"])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=("build", "tests"))
    ap.add_argument("--rev", help="also measure this git revision (before), first")
    args = ap.parse_args()
    measure = measure_build if args.what == "build" else measure_tests
    results = {}
    with tempfile.TemporaryDirectory(prefix="saddlebook-speed-") as tmp:
        for label, rev in ([("before", args.rev)] if args.rev else []) + [("after", None)]:
            tree = _copy_tree(Path(tmp) / label, rev)
            try:
                results[label] = measure(tree)
            finally:
                if rev:
                    subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                                   capture_output=True)
            print(f"{label}: " + ", ".join(f"{k} {v:.1f} s" for k, v in results[label].items()), flush=True)
    if "before" in results:
        for key in results["after"]:
            if key in results["before"] and results["after"][key] > 0:
                print(f"{key:32s} before {results['before'][key]:8.1f} s  after {results['after'][key]:8.1f} s  "
                      f"before/after {results['before'][key] / results['after'][key]:5.2f}x")
        if args.what == "build":
            total = {k: v["build"] + v["pdf"] for k, v in results.items()}
            print(f"cold make book (build + pdf)     before {total['before']:8.1f} s  after {total['after']:8.1f} s  "
                  f"before/after {total['before'] / total['after']:5.2f}x")


if __name__ == "__main__":
    main()
