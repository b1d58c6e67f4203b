"""Build the day's worksheets: notebooks in both languages and the printable sheets.

One source per notebook (``src/notebooks/*.nbsrc``) holds the shared code and
the German and English prose side by side. This script writes, per language,

- ``<lang>/source/<assignment>/<notebook>.ipynb``: nbgrader's source layout,
  with solution regions and autograded check cells (committed);
- ``<lang>/tutor/<notebook>_solution.ipynb``: the tutors' solution notebook,
  without nbgrader markers and with the tutor notes (committed);
- ``build/sheets/<lang>/<sheet>.{html,pdf}`` and ``<sheet>_key.{html,pdf}``:
  the printable sheets and their answer keys (generated, not committed).

Usage::

    python worksheets/build.py              # notebooks and sheets (HTML + PDF)
    python worksheets/build.py notebooks    # only the notebooks
    python worksheets/build.py sheets --no-pdf
    python worksheets/build.py --check      # fail if the committed notebooks are stale

The ``.nbsrc`` format, line by line:

- ``@@ markdown id=<id> [tutor|student]`` or
  ``@@ code id=<id> [solution | grade points=<n>] [tutor|student] [tags=a,b]``
  starts a cell. ``tutor`` cells appear only in the solution notebook,
  ``student`` cells only in the nbgrader source (and so in the release).
- ``@@de`` / ``@@en`` switch the following lines to one language;
  ``@@all`` switches back to lines shared by both.
- ``@@#`` starts a comment for authors; it is dropped.
- ``[[de: … || en: …]]`` inside any line picks a phrase per language. Code
  cells use it only in comments and string literals, so that the code itself
  stays the same in both languages.
"""

from __future__ import annotations

import argparse
import filecmp
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
SRC = HERE / "src"
LANGS = ("de", "en")

# source file → (nbgrader assignment, notebook name, extra files copied beside it)
NOTEBOOKS = {
    "jupyter.nbsrc": ("jupyter", "jupyter", ()),
    "z_boson.nbsrc": ("z-boson", "z_boson", ()),
    "extras.nbsrc": ("extras", "extras", ()),
    "human_vs_machine.nbsrc": ("human-vs-machine", "human_vs_machine", ("sortgame.py",)),
}

SHEETS = (
    "branching_ratios",
    "code_structure",
    "tasks",
    "event_display",
    "discussion",
    "human_vs_machine",
)

BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"

# The nbgrader stub that replaces a solution region in the student version.
# It must stay valid Python wherever a region sits (a whole line, or the value
# inside parentheses), so it is an Ellipsis with a comment, not a `raise`.
CODE_STUB = {
    "de": "...  # ✏️ hier ausfüllen",
    "en": "...  # ✏️ fill in here",
}

_PHRASE = re.compile(r"\[\[de:(.*?)\|\|\s*en:(.*?)\]\]", re.DOTALL)
_HEADER = re.compile(r"^@@ (markdown|code)\b(.*)$")
_INCLUDE = re.compile(r"^\{\{code:([\w-]+)/([\w,-]+)\}\}$", re.MULTILINE)
_KEY_SPLIT = "<!-- key -->"


@dataclass
class Cell:
    """One cell of a notebook source, with its text for every language."""

    kind: str
    id: str
    solution: bool = False
    points: int | None = None
    only: str | None = None  # "tutor", "student" or None for both
    tags: list[str] = field(default_factory=list)
    lines: list[tuple[str | None, str]] = field(default_factory=list)

    def text(self, lang: str) -> str:
        kept = [line for line_lang, line in self.lines if line_lang in (None, lang)]
        while kept and not kept[-1].strip():
            kept.pop()
        while kept and not kept[0].strip():
            kept.pop(0)
        return pick_language("\n".join(kept), lang)


def pick_language(text: str, lang: str) -> str:
    """Replace every ``[[de: … || en: …]]`` with the phrase for ``lang``."""
    index = LANGS.index(lang)
    return _PHRASE.sub(lambda m: m.group(1 + index).strip(), text)


def parse_nbsrc(path: Path) -> list[Cell]:
    """Read a ``.nbsrc`` file into cells; raise ValueError naming the line on bad input."""
    cells: list[Cell] = []
    lang: str | None = None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        where = f"{path.name}:{number}"
        header = _HEADER.match(line)
        if header:
            cells.append(_parse_header(header.group(1), header.group(2).split(), where))
            lang = None
        elif line.startswith("@@#"):
            continue
        elif line.strip() in ("@@de", "@@en", "@@all"):
            lang = None if line.strip() == "@@all" else line.strip()[2:]
        elif line.startswith("@@"):
            raise ValueError(f"{where}: unknown directive {line!r}")
        elif not cells:
            if line.strip():
                raise ValueError(f"{where}: text before the first cell")
        else:
            cells[-1].lines.append((lang, line))
    ids = [cell.id for cell in cells]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"{path.name}: duplicate cell ids {duplicates}")
    return cells


def _parse_header(kind: str, words: list[str], where: str) -> Cell:
    options: dict[str, str] = {}
    flags: set[str] = set()
    for word in words:
        key, sep, value = word.partition("=")
        if sep:
            options[key] = value
        else:
            flags.add(word)
    unknown = (flags - {"solution", "grade", "tutor", "student"}) | (
        options.keys() - {"id", "points", "tags"}
    )
    if unknown or "id" not in options:
        raise ValueError(f"{where}: bad cell header (unknown {sorted(unknown)}, or no id=)")
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", options["id"]):
        raise ValueError(f"{where}: cell id {options['id']!r} is not a valid notebook cell id")
    if "grade" in flags and "points" not in options:
        raise ValueError(f"{where}: a grade cell needs points=")
    return Cell(
        kind=kind,
        id=options["id"],
        solution="solution" in flags,
        points=int(options["points"]) if "grade" in flags else None,
        only=next((f for f in ("tutor", "student") if f in flags), None),
        tags=[t for t in options.get("tags", "").split(",") if t],
    )


def _nbgrader_metadata(cell: Cell) -> dict:
    meta = {
        "grade": cell.points is not None,
        "grade_id": cell.id,
        "locked": cell.points is not None,
        "schema_version": 3,
        "solution": cell.solution,
        "task": False,
    }
    if cell.points is not None:
        meta["points"] = cell.points
    return meta


def strip_solution_markers(source: str) -> str:
    """Keep the solution, drop the ``### BEGIN/END SOLUTION`` lines (tutor version)."""
    lines = source.split("\n")
    return "\n".join(
        line for line in lines if BEGIN_SOLUTION not in line and END_SOLUTION not in line
    )


def clear_solutions(source: str, lang: str) -> str:
    """Replace solution regions with the stub, as nbgrader's ClearSolutions does."""
    out: list[str] = []
    inside = False
    for line in source.split("\n"):
        if BEGIN_SOLUTION in line:
            inside = True
            indent = re.match(r"\s*", line).group(0)
            out.extend(indent + stub for stub in CODE_STUB[lang].split("\n"))
        elif END_SOLUTION in line:
            inside = False
        elif not inside:
            out.append(line)
    return "\n".join(out)


#: What the student image's kernel reports about its language (ipykernel's
#: ``IPythonKernel.language_info`` on Debian 12's Python). JupyterLab writes the kernel's
#: values into the notebook when the kernel starts; with the same values already there,
#: a freshly opened worksheet shows no unsaved-changes mark. tests/integration/test_images.py
#: compares this with the image.
LANGUAGE_INFO = {
    "codemirror_mode": {"name": "ipython", "version": 3},
    "file_extension": ".py",
    "mimetype": "text/x-python",
    "name": "python",
    "nbconvert_exporter": "python",
    "pygments_lexer": "ipython3",
    "version": "3.11.2",
}


def make_notebook(cells: list[Cell], lang: str, variant: str) -> nbformat.NotebookNode:
    """Build one notebook; ``variant`` is "source" (nbgrader) or "tutor"."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {
            "display_name": "Python 3 (ipykernel)",
            "language": "python",
            "name": "python3",
        },
        "language_info": LANGUAGE_INFO,
        "masterclass": {"lang": lang, "variant": variant},
    }
    skip = "student" if variant == "tutor" else "tutor"
    for cell in cells:
        if cell.only == skip:
            continue
        text = cell.text(lang)
        if cell.kind == "markdown":
            new = nbformat.v4.new_markdown_cell(text)
        else:
            if variant == "tutor":
                text = strip_solution_markers(text)
            new = nbformat.v4.new_code_cell(text)
        new.id = cell.id
        if cell.tags:
            new.metadata["tags"] = list(cell.tags)
        if variant == "source" and (cell.solution or cell.points is not None):
            new.metadata["nbgrader"] = _nbgrader_metadata(cell)
        nb.cells.append(new)
    nbformat.validate(nb)
    return nb


def _write_if_changed(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def build_notebooks(out: Path = HERE) -> list[Path]:
    """Write every notebook (and the files beside it) for both languages under ``out``."""
    written: list[Path] = []
    for lang in LANGS:
        config = out / lang / "nbgrader_config.py"
        _write_if_changed(config, nbgrader_config(lang))
        written.append(config)
        for src_name, (assignment, name, extras) in NOTEBOOKS.items():
            cells = parse_nbsrc(SRC / "notebooks" / src_name)
            target = out / lang / "source" / assignment / f"{name}.ipynb"
            _write_if_changed(target, nbformat.writes(make_notebook(cells, lang, "source")) + "\n")
            written.append(target)
            for extra in extras:
                copy = target.parent / extra
                _write_if_changed(copy, (SRC / "notebooks" / extra).read_text(encoding="utf-8"))
                written.append(copy)
            if any(cell.solution or cell.only == "tutor" for cell in cells):
                tutor = out / lang / "tutor" / f"{name}_solution.ipynb"
                nb = make_notebook(cells, lang, "tutor")
                _write_if_changed(tutor, nbformat.writes(nb) + "\n")
                written.append(tutor)
    return written


def nbgrader_config(lang: str) -> str:
    """The course settings the worksheets rely on, for the hub's course config to load."""
    stub = json.dumps(CODE_STUB[lang], ensure_ascii=False)
    return (
        '"""nbgrader settings the worksheets need (generated by worksheets/build.py).\n\n'
        "The course's own nbgrader_config.py loads this file for the class language,\n"
        "for example with `load_subconfig(...)`.\n"
        '"""\n\n'
        "c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)\n\n"
        "# The gaps are values inside parentheses or whole lines. The default stub\n"
        "# (`raise NotImplementedError()`) would be a syntax error inside parentheses and\n"
        "# a scary traceback for a 15-year-old; an Ellipsis lets the friendly checks speak.\n"
        f"c.ClearSolutions.code_stub = {{{json.dumps('python')}: {stub}}}\n\n"
        "# Autograding re-runs the training; that one cell takes minutes on a busy\n"
        "# server, far beyond nbgrader's default of 30 s per cell.\n"
        "c.Execute.timeout = 900\n"
    )


def check_notebooks() -> list[str]:
    """Names of committed generated files that differ from a fresh build."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = build_notebooks(Path(tmp))
        stale = []
        for path in fresh:
            committed = HERE / path.relative_to(tmp)
            if not committed.exists() or not filecmp.cmp(path, committed, shallow=False):
                stale.append(str(committed.relative_to(HERE)))
        return stale


# ---------------------------------------------------------------- sheets


def student_code(notebook: str, cell_id: str, lang: str) -> str:
    """A code cell as students see it, without full-line comments (for the sheets)."""
    src_name = next(s for s, (_a, n, _e) in NOTEBOOKS.items() if n == notebook)
    cells = {c.id: c for c in parse_nbsrc(SRC / "notebooks" / src_name)}
    if cell_id not in cells:
        raise ValueError(f"sheet includes unknown cell {notebook}/{cell_id}")
    code = clear_solutions(cells[cell_id].text(lang), lang)
    lines = [line for line in code.split("\n") if not line.lstrip().startswith("#")]
    return "\n".join(line.split("  # ✏️")[0] for line in lines).strip("\n")


def render_markdown(text: str, lang: str) -> str:
    """Markdown with ``{{code:notebook/cell[,cell…]}}`` includes → HTML body."""
    from markdown_it import MarkdownIt

    def include(match: re.Match) -> str:
        cells = match.group(2).split(",")
        code = "\n".join(student_code(match.group(1), cell, lang) for cell in cells)
        return "```python\n" + code + "\n```"

    md = MarkdownIt("commonmark", {"html": True, "typographer": False}).enable("table")
    return md.render(_INCLUDE.sub(include, text))


def sheet_html(body: str, title: str, lang: str, key: bool) -> str:
    css = (SRC / "sheets" / "sheet.css").read_text(encoding="utf-8")
    label = {"de": "Lösung für Tutorinnen und Tutoren", "en": "Answer key for tutors"}[lang]
    banner = f'<p class="key-banner">{label}</p>\n' if key else ""
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>\n{css}</style>\n</head>\n"
        f'<body class="{"key" if key else "sheet"}">\n'
        f"<main>\n{banner}{body}</main>\n</body>\n</html>\n"
    )


def build_sheets(out: Path, pdf: bool = True) -> list[Path]:
    """Render every sheet and its key to HTML (and PDF) under ``out/<lang>/``."""
    written = []
    for lang in LANGS:
        for name in SHEETS:
            source = (SRC / "sheets" / lang / f"{name}.md").read_text(encoding="utf-8")
            if _KEY_SPLIT not in source:
                raise ValueError(f"sheets/{lang}/{name}.md has no {_KEY_SPLIT} line before its key")
            sheet, key = source.split(_KEY_SPLIT, 1)
            title = next(
                (line[2:].strip() for line in sheet.splitlines() if line.startswith("# ")), name
            )
            for suffix, part, is_key in (("", sheet, False), ("_key", key, True)):
                target = out / lang / f"{name}{suffix}.html"
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(
                    sheet_html(render_markdown(part, lang), title, lang, is_key), encoding="utf-8"
                )
                written.append(target)
                if pdf:
                    written.append(html_to_pdf(target))
    return written


def chromium() -> str:
    found = (
        os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )
    if not found:
        raise RuntimeError("PDF needs Chromium: apt-get install chromium (or set CHROMIUM=/path)")
    return found


def html_to_pdf(source: Path) -> Path:
    """Print an HTML file to PDF with headless Chromium (A4, no header or footer)."""
    target = source.with_suffix(".pdf")
    with tempfile.TemporaryDirectory() as profile:
        command = [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={target}",
            source.resolve().as_uri(),
        ]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if result.returncode != 0 or not target.exists() or target.stat().st_size == 0:
        raise RuntimeError(f"Chromium could not print {source.name}:\n{result.stderr[-2000:]}")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", nargs="?", choices=("all", "notebooks", "sheets"), default="all")
    parser.add_argument("--check", action="store_true", help="only check the committed notebooks")
    parser.add_argument("--no-pdf", action="store_true", help="sheets as HTML only")
    parser.add_argument("--out", type=Path, default=HERE / "build" / "sheets", help="sheet output")
    args = parser.parse_args(argv)
    if args.check:
        stale = check_notebooks()
        for name in stale:
            print(f"stale: worksheets/{name} (run: make worksheets)", file=sys.stderr)
        return 1 if stale else 0
    if args.what in ("all", "notebooks"):
        for path in build_notebooks():
            print(path.relative_to(HERE))
    if args.what in ("all", "sheets"):
        for path in build_sheets(args.out, pdf=not args.no_pdf):
            print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
