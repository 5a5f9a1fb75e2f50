"""Execute one chapter: MyST → paired .ipynb → papermill → executed copy.

The executed notebook and its JSON record replace the previous ones only
when the whole chapter ran without error; a failure leaves the last good
copy in place and raises :class:`ChapterFailed` naming the chapter, the cell
and the error.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import nbformat

from ..book import checks
from ._imports import package_modules
from .chapters import Chapter

KERNEL = "saddlebook"
_PACKAGE = Path(__file__).resolve().parents[1]


class ChapterFailed(RuntimeError):
    """A chapter raised (a failed check or any exception) while executing.

    ``checks`` holds the check records made before the failure (the
    falsification run reads them).
    """

    def __init__(self, message: str, checks: list | None = None) -> None:
        super().__init__(message)
        self.checks = list(checks or [])


def modules_digest(chapter_source: Path, package: Path = _PACKAGE) -> str:
    """Hash of the paths and bytes of :func:`package_modules` of a chapter."""
    h = hashlib.sha256()
    for path in package_modules(chapter_source, package):
        rel = path.relative_to(package).as_posix()
        h.update(f"{rel}\0{hashlib.sha256(path.read_bytes()).hexdigest()}\n".encode())
    return h.hexdigest()


def cache_key(chapter: Chapter, parameters: dict) -> str:
    """Execution cache key: chapter source + the package modules it imports + parameters
    + pinned requirements."""
    h = hashlib.sha256()
    h.update(chapter.source.read_bytes())
    # _PACKAGE read at call time, not bound as a default: tests point it at a copy.
    h.update(modules_digest(chapter.source, _PACKAGE).encode())
    h.update(json.dumps(parameters, sort_keys=True, default=repr).encode())
    req = chapter.root / "requirements.txt"
    if req.is_file():
        h.update(req.read_bytes())
    return h.hexdigest()


def read_record(chapter: Chapter, out_dir: Path | None = None) -> dict | None:
    path = chapter.record(out_dir)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return None


def is_current(chapter: Chapter, parameters: dict, out_dir: Path | None = None) -> bool:
    """True if the executed copy was made from exactly these sources and parameters."""
    record = read_record(chapter, out_dir)
    return bool(
        record
        and record.get("cache_key") == cache_key(chapter, parameters)
        and chapter.executed(out_dir).is_file()
    )


def pair(chapter: Chapter) -> Path:
    """Write the Jupytext-paired ``.ipynb`` beside the MyST source (inputs only)."""
    from jupytext.cli import jupytext as jupytext_cli

    # The MyST source is the truth: a stale notebook would hand its own front matter back to it.
    chapter.paired.unlink(missing_ok=True)
    jupytext_cli(["--sync", "--quiet", str(chapter.source)])
    if not chapter.paired.is_file():
        raise ChapterFailed(
            f"chapter {chapter.stem} is not paired with a notebook: its front matter needs "
            "'jupytext: formats: md:myst,ipynb'"
        )
    return chapter.paired


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(tmp, 0o644)  # mkstemp makes files private; published files are readable
    os.replace(tmp, path)


def _mark_parameters(nb, overrides: dict) -> None:
    """Hide papermill's injected cell; say in the page which values were overridden."""
    for i, cell in enumerate(nb.cells):
        tags = cell.get("metadata", {}).get("tags", [])
        if "injected-parameters" in tags:
            cell.metadata.setdefault("tags", []).append("remove-cell")
            if overrides:
                listing = ", ".join(f"`{k} = {v!r}`" for k, v in overrides.items())
                note = nbformat.v4.new_markdown_cell(
                    ":::{note}\nThis page was executed with parameters overridden from the "
                    f"command line: {listing}. The cell above shows the defaults.\n:::"
                )
                nb.cells.insert(i + 1, note)
            return


def _failure_message(chapter: Chapter, err) -> str:
    where = ""
    index = getattr(err, "cell_index", None)
    if index is not None:
        where = f" in cell {index}"
        count = getattr(err, "exec_count", None)
        if count is not None:
            where += f" (execution count {count})"
    source = (getattr(err, "source", "") or "").strip().splitlines()
    first = f"\n  cell starts: {source[0][:100]}" if source else ""
    ename = getattr(err, "ename", type(err).__name__)
    evalue = getattr(err, "evalue", str(err))
    return f"chapter {chapter.stem} failed{where}: {ename}: {evalue}{first}"


@dataclass
class Execution:
    chapter: str
    executed: bool  # False when the cached copy was current
    seconds: float
    record: dict


# glibc returns freed blocks above 128 KiB to the system and faults them back in on the next
# allocation; batched gradients allocate and free MB-sized activations on every evaluation,
# which doubled their time (benchmarks/escape_engine.py measures it). Kernels start with
# higher thresholds.
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "33554432", "MALLOC_TRIM_THRESHOLD_": "268435456",
              "MALLOC_TOP_PAD_": "67108864"}
_THREADS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def execute(
    chapter: Chapter,
    overrides: dict | None = None,
    *,
    out_dir: Path | None = None,
    force: bool = False,
    cell_timeout: int | None = None,
    env: dict | None = None,
    paired: bool = False,
) -> Execution:
    """Run ``chapter`` with ``overrides`` unless a current executed copy exists.

    Parameters are validated first (in-process, no kernel); then the chapter
    is paired, executed by papermill into a temporary file with the kernel
    named explicitly, and moved into place only on success. ``env`` adds
    environment variables for the kernel (the falsification run's switches).
    ``paired=True`` says the caller has already paired the chapter (parallel
    executions of one chapter must not rewrite its notebook at once).
    """
    overrides = dict(overrides or {})
    parameters = chapter.validate(overrides)
    out_dir = Path(out_dir) if out_dir else chapter.root / "book" / "executed"
    out_dir.mkdir(parents=True, exist_ok=True)
    # Pair first: on a first pairing Jupytext may add its version to the source's header.
    paired = chapter.paired if paired else pair(chapter)
    key = cache_key(chapter, parameters)
    if not force and is_current(chapter, parameters, out_dir):
        return Execution(chapter.stem, False, 0.0, read_record(chapter, out_dir))

    tmp_nb, tmp_checks, seconds = _run_papermill(chapter, paired, overrides, out_dir, cell_timeout, env)
    try:
        record = _publish(chapter, Path(tmp_nb), tmp_checks, parameters, overrides, key, seconds, out_dir)
    finally:
        for leftover in (Path(tmp_nb), tmp_checks):
            leftover.unlink(missing_ok=True)
    return Execution(chapter.stem, True, seconds, record)


def _run_papermill(chapter: Chapter, paired: Path, overrides: dict, out_dir: Path, cell_timeout, env) -> tuple:
    """Execute ``paired`` into a temporary notebook; ``(notebook, checks file, seconds)``.

    On failure both temporary files are removed and :class:`ChapterFailed` is raised.
    """
    import papermill

    fd, tmp_nb = tempfile.mkstemp(dir=out_dir, prefix=f".{chapter.stem}.", suffix=".ipynb")
    os.close(fd)
    tmp_checks = Path(tmp_nb).with_suffix(".checks.json")
    start = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(paired),
            tmp_nb,
            parameters=overrides,
            kernel_name=KERNEL,
            # The kernel's environment is handed to its launch, never set in this process: chapters
            # executed side by side in threads of one process (the build's Dask workers) keep their own.
            kernel_manager_class=_kernel_manager(kernel_env(chapter, dict(env or {}), tmp_checks)),
            cwd=str(chapter.root / "chapters"),
            progress_bar=False,
            log_output=False,
            request_save_on_cell_execute=False,
            execution_timeout=cell_timeout,
            # nbclient's default 4 s wait for a finished cell's output fails chapters on a loaded machine.
            iopub_timeout=60,
        )
    except Exception as err:  # papermill wraps cell errors; anything else is a failure too
        # The failed output carries papermill's error banner: never publish it.
        Path(tmp_nb).unlink(missing_ok=True)
        made = json.loads(tmp_checks.read_text()) if tmp_checks.is_file() else []
        tmp_checks.unlink(missing_ok=True)
        raise ChapterFailed(_failure_message(chapter, err), made) from None
    finally:
        seconds = time.perf_counter() - start
    return tmp_nb, tmp_checks, seconds


def kernel_env(chapter: Chapter, env: dict, tmp_checks: Path) -> dict:
    """The environment of the chapter's kernel: this process's, the thread and malloc settings (where this
    process sets none), ``env``, and the chapter's own variables."""
    out = dict(os.environ)
    # The chapters' tensors are small: one thread per kernel is fastest, and much
    # faster when other work shares the cores (chapters run in parallel instead).
    for var in _THREADS:
        out.setdefault(var, "1")
    for var, value in MALLOC_ENV.items():
        out.setdefault(var, value)
    out.update(env)
    out[checks.ENV_FILE] = str(tmp_checks)
    out["SADDLEBOOK_CHAPTER"] = chapter.stem
    out["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    return out


def _kernel_manager(env: dict):
    """A kernel manager class that starts its kernel with the environment ``env``."""
    from jupyter_client import AsyncKernelManager

    class _KernelWithEnv(AsyncKernelManager):
        async def _async_pre_start_kernel(self, **kw):
            kw["env"] = dict(env)
            return await super()._async_pre_start_kernel(**kw)

    return _KernelWithEnv


# The repr of a numpy scalar since numpy 2: {glue:text}`key:.3f` cannot format it and the page would show it raw.
_NUMPY_REPR = re.compile(r"np\.(float|int|uint|bool|complex)\w*\(")


def unformattable_glues(nb) -> list[str]:
    """Names of glued values stored as a numpy scalar's repr (``np.float64(...)``) instead of a number."""
    bad = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            glued = out.get("metadata", {}).get("scrapbook", {})
            text = out.get("data", {}).get(glued.get("mime_prefix", "") + "text/plain", "")
            if glued.get("name") and _NUMPY_REPR.match(text):
                bad.append(glued["name"])
    return bad


def _publish(chapter: Chapter, tmp_nb: Path, tmp_checks: Path, parameters: dict, overrides: dict,
             key: str, seconds: float, out_dir: Path) -> dict:
    """Move the executed notebook into place and write its record; returns the record.

    A glued numpy scalar fails the chapter here, before the HTML build would.
    """
    nb = nbformat.read(tmp_nb, as_version=4)
    bad = unformattable_glues(nb)
    if bad:
        raise ChapterFailed(f"chapter {chapter.stem}: glued numpy scalars {bad} do not format in the book; glue "
                            "Python numbers (float(value) or value.item())")
    _mark_parameters(nb, overrides)
    checks_made = json.loads(tmp_checks.read_text()) if tmp_checks.is_file() else []
    record = {
        "chapter": chapter.stem,
        "parameters": parameters,
        "overrides": overrides,
        "cache_key": key,
        "seconds": round(seconds, 2),
        "executed_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "checks": checks_made,
    }
    nb.metadata["saddlebook"] = {k: record[k] for k in ("parameters", "overrides", "cache_key")}
    nbformat.write(nb, tmp_nb)
    os.chmod(tmp_nb, 0o644)
    os.replace(tmp_nb, chapter.executed(out_dir))
    _atomic_write_text(chapter.record(out_dir), json.dumps(record, indent=1, default=repr))
    return record
