"""Rebuild timings of the book, printed (never asserted).

Measures, on a throw-away copy of the book with every chapter in its quick
setting: a cold build (every chapter executed), a no-change rebuild (target:
no chapter executes, <= 20 s), and a rebuild after editing one chapter (only
that chapter executes).

    .venv/bin/python benchmarks/rebuild.py
"""
import tempfile
import time
from pathlib import Path

from saddlebook.publish.build import build_html, execute_all, stage
from saddlebook.publish.chapters import find_root


def timed(dest, label):
    start = time.perf_counter()
    executed = execute_all(dest, common={"quick": True}, log=lambda *_: None)
    build_html(dest, log=lambda *_: None)
    seconds = time.perf_counter() - start
    names = ", ".join(r.chapter for r in executed) or "none"
    print(f"{label:28s} {seconds:7.1f} s   chapters executed: {names}")
    return seconds


def main():
    with tempfile.TemporaryDirectory() as tmp:
        dest = stage(find_root(), Path(tmp))
        cold = timed(dest, "cold build (quick)")
        warm = timed(dest, "no-change rebuild")
        first = sorted((dest / "chapters").glob("0[1-9]*.md"))[0]
        first.write_text(first.read_text() + "\n<!-- benchmark edit -->\n")
        one = timed(dest, f"edited {first.stem}")
        print(f"no-change rebuild / cold build = {warm / cold:.3f}  (target: no-change <= 20 s)")
        print(f"one-chapter rebuild / cold build = {one / cold:.3f}")


if __name__ == "__main__":
    main()
