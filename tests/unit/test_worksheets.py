"""Tests for the worksheets: generated notebooks, both languages, nbgrader, the game and the sheets.

Fast tests check the build (up to date, same code in German and English, no
leftover markers) and the sorting game's logic on tiny fake events. Slow tests
execute every notebook against the real OPAL events with short CI settings,
run nbgrader's release and autograding in a temporary course, and print the
sheets to PDF.
"""

from __future__ import annotations

import importlib.util
import io
import os
import re
import shutil
import subprocess
import sys
import tokenize
from pathlib import Path
from types import SimpleNamespace

import nbformat
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
WORKSHEETS = REPO / "worksheets"
LANGS = ("de", "en")


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


build = _load("worksheets_build", WORKSHEETS / "build.py")
sortgame = _load("sortgame", WORKSHEETS / "src" / "notebooks" / "sortgame.py")

NOTEBOOKS = {name: (assignment, name) for assignment, name, _extra in build.NOTEBOOKS.values()}


def source_notebook(lang: str, name: str) -> Path:
    assignment = NOTEBOOKS[name][0]
    return WORKSHEETS / lang / "source" / assignment / f"{name}.ipynb"


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


# CI runs the gap-fill notebook exactly as the hints say (the minimum path, about a minute
# of training), and the others with short training. These replace whole gap cells (by
# cell id) or one exact piece of text; every replacement must apply, so a changed
# notebook fails here instead of silently training for minutes.
CI_CELLS = {
    "extras": {
        "gap-whatif": (
            "try_settings(0.5, [1, 4, 4, 4], 1)\n"
            "try_settings(0.5, [2, 5, 5, 5], 1)\n"
            "try_settings(0.3, [1, 4, 4, 4], 1)"
        ),
    },
}
CI_TEXT = {
    "human_vs_machine": {
        "train": [("[2, 20, 20, 20]", "[1, 4, 4, 4]"), ("count_epochs=2", "count_epochs=1")],
    },
    "extras": {
        "setup": [("model.train(count_epochs=3)", "model.train(count_epochs=1)")],
        "architecture-train": [("model.train(count_epochs=3)", "model.train(count_epochs=1)")],
    },
}


def apply_ci_settings(nb: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    cells = {cell.id: cell for cell in nb.cells}
    for cell_id, source in CI_CELLS.get(name, {}).items():
        cells[cell_id].source = source
    for cell_id, pairs in CI_TEXT.get(name, {}).items():
        for old, new in pairs:
            assert cells[cell_id].source.count(old) == 1, (
                f"{name}/{cell_id}: {old!r} not found once"
            )
            cells[cell_id].source = cells[cell_id].source.replace(old, new)
    return nb


def code_without_prose(source: str) -> list[tuple[int, str]]:
    """Tokens of a code cell with comments dropped and every string literal blanked."""
    tokens = []
    for token in tokenize.generate_tokens(io.StringIO(source + "\n").readline):
        if token.type in (tokenize.COMMENT, tokenize.NL, tokenize.ENCODING):
            continue
        if token.type == tokenize.STRING or token.type in _FSTRING_TYPES:
            tokens.append((tokenize.STRING, "<text>"))
        else:
            tokens.append((token.type, token.string))
    return tokens


_FSTRING_TYPES = {
    getattr(tokenize, n)
    for n in ("FSTRING_START", "FSTRING_MIDDLE", "FSTRING_END")
    if hasattr(tokenize, n)
}


def all_text(nb: nbformat.NotebookNode) -> str:
    return "\n".join(cell.source for cell in nb.cells)


def cell_text(cell) -> str:
    """Everything a cell printed or displayed as text."""
    parts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            parts.append(output.text)
        elif "data" in output:
            parts.append(output.data.get("text/plain", ""))
    return "".join(parts)


# ---------------------------------------------------------------- fast: the build


def test_generated_files_are_up_to_date():
    stale = build.check_notebooks()
    assert not stale, f"run `make worksheets` and commit; stale: {stale}"


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_german_and_english_have_the_same_cells_and_code(name):
    de, en = read(source_notebook("de", name)), read(source_notebook("en", name))
    assert [c.id for c in de.cells] == [c.id for c in en.cells]
    for cell_de, cell_en in zip(de.cells, en.cells, strict=True):
        assert cell_de.cell_type == cell_en.cell_type, cell_de.id
        assert cell_de.metadata == cell_en.metadata, cell_de.id
        if cell_de.cell_type == "code":
            assert code_without_prose(cell_de.source) == code_without_prose(cell_en.source), (
                f"{name}/{cell_de.id}: the code differs between de and en, not just the prose"
            )
        else:
            assert cell_de.source != cell_en.source, f"{name}/{cell_de.id}: not translated"


@pytest.mark.parametrize("lang", LANGS)
def test_no_markers_left_and_code_compiles(lang):
    for path in sorted((WORKSHEETS / lang).rglob("*.ipynb")):
        nb = read(path)
        text = all_text(nb)
        assert "[[de:" not in text and "||" not in text and "\n@@" not in text, path
        for cell in nb.cells:
            if cell.cell_type == "code":
                compile(cell.source, f"{path.name}:{cell.id}", "exec")


def test_tutor_notes_only_in_the_solution():
    for lang in LANGS:
        source = read(source_notebook(lang, "z_boson"))
        tutor = read(WORKSHEETS / lang / "tutor" / "z_boson_solution.ipynb")
        assert not any(c.id.startswith("tutor-") for c in source.cells)
        assert any(c.id.startswith("tutor-") for c in tutor.cells)
        assert "BEGIN SOLUTION" not in all_text(tutor)
        assert "nbgrader" not in str([c.metadata for c in tutor.cells])


def test_gap_fill_has_graded_validity_checks_for_every_gap():
    nb = read(source_notebook("de", "z_boson"))
    meta = {c.id: c.metadata.get("nbgrader", {}) for c in nb.cells}
    gaps = [i for i, m in meta.items() if m.get("solution")]
    checks = [i for i, m in meta.items() if m.get("grade")]
    assert gaps == ["gap-fraction", "gap-factors", "gap-epochs"]
    assert checks == ["check-fraction", "check-factors", "check-epochs"]
    ids = [c.id for c in nb.cells]
    for gap, check in zip(gaps, checks, strict=True):
        assert ids.index(check) == ids.index(gap) + 1, "each check follows its gap directly"


def test_student_view_of_a_gap_is_the_stub():
    code = build.clear_solutions(
        "x = (\n    ### BEGIN SOLUTION\n    0.3\n    ### END SOLUTION\n)", "de"
    )
    assert code == "x = (\n    ...  # ✏️ hier ausfüllen\n)"
    namespace = {}
    exec(code, namespace)
    assert namespace["x"] is Ellipsis


@pytest.mark.parametrize(
    "text, message",
    [
        ("@@ code\nx = 1\n", "no id="),
        ("@@ code id=a\n@@ code id=a\n", "duplicate"),
        ("@@ code id=a grade\n", "points="),
        ("@@ code id=a\n@@ende\n", "unknown directive"),
        ("stray text\n", "before the first cell"),
        ("@@ code id=a wrong\n", "bad cell header"),
    ],
)
def test_bad_notebook_sources_are_rejected_with_the_line(tmp_path, text, message):
    path = tmp_path / "bad.nbsrc"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=message) as error:
        build.parse_nbsrc(path)
    assert "bad.nbsrc" in str(error.value)


def test_phrases_pick_the_language():
    assert build.pick_language('print("[[de: Hallo || en: Hello]]")', "en") == 'print("Hello")'
    assert (
        build.pick_language("# [[de: eins || en: one]] [[de: zwei || en: two]]", "de")
        == "# eins zwei"
    )


# ---------------------------------------------------------------- fast: the game


def fake_events(categories: str) -> list:
    return [
        SimpleNamespace(
            filename=f"z{i}.png",
            category=c,
            image=np.full((200, 200, 3), 40 * i % 255, dtype=np.uint8),
        )
        for i, c in enumerate(categories)
    ]


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_game_times_the_round_and_counts_right_answers():
    events = fake_events("qemt")
    clock = FakeClock()
    game = sortgame.SortGame(events, clock=clock)
    assert all(button.disabled for button in game.buttons.values())
    assert game.answer("q") is False, "answers before the start are ignored"
    game.start_button.click()
    first_image = bytes(game.image.value)
    assert first_image.startswith(b"\x89PNG")
    clock.now += 5
    game.buttons["q"].click()
    assert bytes(game.image.value) != first_image, "the next event is shown"
    game.buttons["e"].click()
    game.buttons["q"].click()
    assert not game.finished
    clock.now += 7.5
    game.buttons["t"].click()
    assert game.finished
    assert game.guesses == ["q", "e", "q", "t"]
    assert game.correct == 3
    assert game.seconds == pytest.approx(12.5)
    assert "12.5 s" in game.status.value
    assert all(button.disabled for button in game.buttons.values())
    assert game.answer("q") is False, "answers after the end are ignored"


def test_game_can_be_restarted():
    clock = FakeClock()
    game = sortgame.SortGame(fake_events("qe"), clock=clock)
    game.start()
    game.answer("e")
    game.answer("e")
    assert game.finished and game.correct == 1
    clock.now += 50
    game.start_button.click()
    assert not game.finished and game.guesses == []
    game.answer("q")
    game.answer("e")
    assert game.correct == 2 and game.seconds == 0


def test_game_rejects_unknown_letters():
    game = sortgame.SortGame(fake_events("q"))
    game.start()
    with pytest.raises(ValueError, match="category"):
        game.answer("x")


def test_pick_events_takes_a_fixed_mix_and_without_removes_it():
    events = fake_events("q" * 20 + "e" * 5 + "m" * 5 + "t" * 5)
    picked = sortgame.pick_events(events, seed=1)
    assert sorted(e.category for e in picked) == sorted("q" * 8 + "e" * 4 + "m" * 4 + "t" * 4)
    rest = sortgame.without(events, picked)
    assert len(rest) == len(events) - 20
    assert not {e.filename for e in rest} & {e.filename for e in picked}
    with pytest.raises(ValueError, match="only 5"):
        sortgame.pick_events(events, counts={"e": 6})


def test_disagreements_compare_pair_and_network(monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    events = fake_events("qemt")
    game = sortgame.SortGame(events)
    game.start()
    for letter in "qmmq":
        game.answer(letter)
    predicted = [SimpleNamespace(category=c) for c in "qemt"]
    rows = sortgame.disagreements(game, predicted)
    assert [(e.category, h, n) for e, h, n in rows] == [("e", "m", "e"), ("t", "q", "t")]
    assert sortgame.show_disagreements(game, predicted, labels=("true", "you", "network")) == 2
    assert sortgame.count_correct(events, predicted) == 4


def test_png_bytes_accepts_float_images():
    png = sortgame.png_bytes(np.full((200, 200, 3), 0.5))
    assert png.startswith(b"\x89PNG")


# ---------------------------------------------------------------- slow: execute every notebook


def execute(nb, cwd: Path, lang: str, monkeypatch, timeout=900):
    from nbclient import NotebookClient

    monkeypatch.setenv("MASTERCLASS_LANG", lang)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    )
    return client


def errors(nb) -> list[str]:
    return [
        f"{cell.id}: {output.ename}: {output.evalue}"
        for cell in nb.cells
        for output in cell.get("outputs", [])
        if output.output_type == "error" and "raises-exception" not in cell.metadata.get("tags", [])
    ]


@pytest.mark.slow
@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize(
    "path",
    [
        "source/jupyter/jupyter.ipynb",
        "tutor/extras_solution.ipynb",
        "tutor/z_boson_solution.ipynb",
    ],
)
def test_notebook_runs(lang, path, tmp_path, monkeypatch):
    name = Path(path).stem.removesuffix("_solution")
    nb = apply_ci_settings(read(WORKSHEETS / lang / path), name)
    execute(nb, tmp_path, lang, monkeypatch).execute()  # raises on any unexpected error
    assert not errors(nb)
    outputs = {cell.id: cell_text(cell) for cell in nb.cells}
    if name == "jupyter":
        right = {"de": "Richtig!", "en": "Correct!"}[lang]
        assert all(right in outputs[f"check-{x}"] for x in ("seconds", "mass", "muon", "percent"))
    if name == "z_boson":
        accuracy = float(outputs["accuracy"].split()[-1])
        assert accuracy >= 0.90, "the minimum path of the hints"
        assert "Test" in str(nb.cells[[c.id for c in nb.cells].index("ratios")].outputs)
        corrected = {"de": "Test (korrigiert)", "en": "Test (corrected)"}[lang]
        assert corrected in str(nb.cells[[c.id for c in nb.cells].index("corrected")].outputs)
    if name == "extras":
        right = {"de": "Richtig!", "en": "Correct!"}[lang]
        assert right in outputs["check-taus"]
        valid = {"de": "Gültig!", "en": "Valid!"}[lang]
        assert valid in outputs["check-whatif"] and valid in outputs["check-architecture"]


@pytest.mark.slow
@pytest.mark.parametrize("lang", LANGS)
def test_human_vs_machine_plays_headless(lang, tmp_path, monkeypatch):
    folder = source_notebook(lang, "human_vs_machine").parent
    shutil.copytree(folder, tmp_path / "game")
    nb = apply_ci_settings(read(tmp_path / "game" / "human_vs_machine.ipynb"), "human_vs_machine")
    client = execute(nb, tmp_path / "game", lang, monkeypatch)
    index = {cell.id: i for i, cell in enumerate(nb.cells)}
    with client.setup_kernel():
        for i, cell in enumerate(nb.cells):
            client.execute_cell(cell, i)
        not_yet = cell_text(nb.cells[index["compare"]])
        assert {"de": "noch nicht fertig", "en": "not finished"}[lang] in not_yet
        # A pair that presses "q" every time: 8 of the 20 are right.
        play = nbformat.v4.new_code_cell(
            "game.start_button.click()\n"
            "for _ in game_events:\n"
            "    game.buttons['q'].click()\n"
            "print(game.finished, game.correct)"
        )
        nb.cells.append(play)
        client.execute_cell(play, len(nb.cells) - 1)
        assert cell_text(play).split() == ["True", "8"]
        for cell_id in ("compare", "disagree"):
            client.execute_cell(nb.cells[index[cell_id]], index[cell_id])
    assert not errors(nb)
    compare = cell_text(nb.cells[index["compare"]])
    assert "8 / 20" in compare
    assert re.search(r"\d+ / 20 .* \d+\.\d\d s", compare), compare
    disagree = cell_text(nb.cells[index["disagree"]])
    assert re.search(r"\d+ / 20", disagree), disagree


# ---------------------------------------------------------------- slow: nbgrader


def nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    # nbgrader runs `alembic` as a program for its gradebook; it lives beside Python.
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    result = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args, "--CourseDirectory.course_id=worksheets-test"],
        cwd=course,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert result.returncode == 0, (
        f"nbgrader {' '.join(args)} failed:\n{result.stdout}\n{result.stderr[-4000:]}"
    )
    return result


def make_course(tmp_path: Path, lang: str) -> Path:
    course = tmp_path / f"course-{lang}"
    shutil.copytree(WORKSHEETS / lang / "source", course / "source")
    shutil.copy(WORKSHEETS / lang / "nbgrader_config.py", course / "nbgrader_config.py")
    return course


def solution_lines(nb) -> list[str]:
    """The non-blank lines inside every solution region of a source notebook."""
    lines, inside = [], False
    for cell in nb.cells:
        for line in cell.source.split("\n"):
            if build.BEGIN_SOLUTION in line:
                inside = True
            elif build.END_SOLUTION in line:
                inside = False
            elif inside and line.strip():
                lines.append(line.strip())
    return lines


@pytest.mark.slow
@pytest.mark.parametrize("lang", LANGS)
def test_release_contains_no_solutions(lang, tmp_path):
    course = make_course(tmp_path, lang)
    for assignment, name in NOTEBOOKS.values():
        nbgrader(course, "generate_assignment", assignment, "--force")
        released = read(course / "release" / assignment / f"{name}.ipynb")
        text = all_text(released)
        assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
        source = read(source_notebook(lang, name))
        for cell in released.cells:
            region = [ln.strip() for ln in cell.source.split("\n")]
            leaked = [
                ln for ln in solution_lines(source) if ln in region and not ln.startswith("#")
            ]
            assert not leaked, f"{assignment}: solution text in the release: {leaked}"
        if any(c.metadata.get("nbgrader", {}).get("solution") for c in source.cells):
            assert build.CODE_STUB[lang] in text
        assert "Tutor" not in text
    assert (course / "release" / "human-vs-machine" / "sortgame.py").exists()


@pytest.mark.slow
def test_autograde_gives_full_marks_for_the_solution_and_zero_for_the_blank(tmp_path, monkeypatch):
    from nbgrader.api import Gradebook

    lang = "de"
    monkeypatch.setenv("MASTERCLASS_LANG", lang)
    course = make_course(tmp_path, lang)
    graded = {"jupyter": "jupyter", "z-boson": "z_boson"}
    for assignment, name in graded.items():
        nbgrader(course, "generate_assignment", assignment, "--force")
        released = read(course / "release" / assignment / f"{name}.ipynb")
        source = {c.id: c for c in read(source_notebook(lang, name)).cells}
        overrides = CI_CELLS.get(name, {})
        filled = read(course / "release" / assignment / f"{name}.ipynb")
        for cell in filled.cells:
            if cell.metadata.get("nbgrader", {}).get("solution"):
                cell.source = overrides.get(cell.id) or build.strip_solution_markers(
                    source[cell.id].source
                )
        for student, nb in (("solution", filled), ("blank", released)):
            target = course / "submitted" / student / assignment / f"{name}.ipynb"
            target.parent.mkdir(parents=True)
            nbformat.write(nb, target)
        nbgrader(course, "autograde", assignment, "--force")
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        for assignment in graded:
            full = gradebook.find_submission(assignment, "solution")
            blank = gradebook.find_submission(assignment, "blank")
            assert full.max_score > 0
            assert full.score == full.max_score, (
                f"{assignment}: solution scored {full.score}/{full.max_score}"
            )
            assert blank.score == 0, f"{assignment}: blank scored {blank.score}"


# ---------------------------------------------------------------- sheets


def test_sheets_render_to_html_with_the_notebook_code(tmp_path):
    written = build.build_sheets(tmp_path, pdf=False)
    assert len(written) == 2 * len(build.SHEETS) * len(LANGS)
    for path in written:
        text = path.read_text(encoding="utf-8")
        assert "{{" not in text and "[[de:" not in text, path
    structure = (tmp_path / "de" / "code_structure.html").read_text(encoding="utf-8")
    assert "split_events_random(events, fraction_first_block=fraction_first_block)" in structure
    assert "0.3" not in structure.split("fraction_first_block = (")[1].split(")")[0]
    key = (tmp_path / "en" / "branching_ratios_key.html").read_text(encoding="utf-8")
    for value in ("4.203", "4.207", "4.211", "87.378", "87.5"):
        assert value in key, value


@pytest.mark.slow
def test_sheets_print_to_pdf_with_ink_on_the_page(tmp_path):
    if not (shutil.which("chromium") or os.environ.get("CHROMIUM")) or not shutil.which("pdftoppm"):
        pytest.fail("needs chromium and pdftoppm: run `make tools`")
    from PIL import Image

    written = build.build_sheets(tmp_path, pdf=True)
    pdfs = [p for p in written if p.suffix == ".pdf"]
    assert len(pdfs) == 2 * len(build.SHEETS) * len(LANGS)
    assert all(p.read_bytes().startswith(b"%PDF") for p in pdfs)
    page = tmp_path / "page"
    subprocess.run(
        [
            "pdftoppm",
            "-r",
            "40",
            "-png",
            "-f",
            "1",
            "-l",
            "1",
            "-singlefile",
            tmp_path / "de" / "tasks.pdf",
            page,
        ],
        check=True,
    )
    pixels = np.asarray(Image.open(f"{page}.png").convert("L"))
    assert pixels.shape[0] > pixels.shape[1], "an A4 page in portrait"
    dark = (pixels < 128).mean()
    assert 0.005 < dark < 0.5, f"{dark:.3%} of the page is ink"
