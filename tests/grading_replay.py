"""Collect with replayed trainings against a full re-execution, on the real worksheet.

Run inside the student image (it has nbgrader, TensorFlow and the toolkit), by
``benchmarks/collect.py`` and ``tests/integration/test_collect_replay.py``::

    python grading_replay.py --worksheets /repo/worksheets --work /work --pairs 30

1. releases ``z-boson`` with the real grader (``masterclass.grading.grader``);
2. one pair works it: the released notebook with every gap filled as the solution fills
   it, run from the top as in the pair's server (``JUPYTERHUB_USER`` set, so every
   training is recorded, masterclass.toolkit.replay);
3. that folder is submitted for ``--pairs`` pairs through the exchange's own store;
4. ``collect`` with replay (``--workers`` pairs at a time): the time and every grade;
5. ``collect`` of the first ``--full`` pairs again, each notebook trained anew (no
   replay), on a course of its own: the time, and whether every grade is the same.

Prints one JSON object on its last line.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from masterclass.grading import grader as grading
from masterclass.grading.service import Store, pack

ROOT = Path(__file__).resolve().parents[1]
COURSE = "masterclass"
ASSIGNMENT = "z-boson"
NOTEBOOK = "z_boson.ipynb"
MARKER = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$")


def filled(released: Path, source: Path) -> nbformat.NotebookNode:
    """The released notebook with each gap filled as the source's solution fills it."""
    nb = nbformat.read(released, as_version=4)
    solutions = {
        cell.metadata["nbgrader"]["grade_id"]: cell.source
        for cell in nbformat.read(source, as_version=4).cells
        if cell.metadata.get("nbgrader", {}).get("solution")
    }
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in solutions:
            lines = solutions[grade_id].splitlines()
            cell.source = "\n".join(line for line in lines if not MARKER.match(line))
    return nb


def cpu_seconds() -> float:
    """CPU-seconds this container used so far (its cgroup), else this process and its children."""
    for path, scale in (
        ("/sys/fs/cgroup/cpuacct/cpuacct.usage", 1e9),
        ("/sys/fs/cgroup/cpu.stat", 1e6),
    ):
        try:
            text = Path(path).read_text()
        except OSError:
            continue
        if path.endswith("cpu.stat"):
            text = next(
                line.split()[1] for line in text.splitlines() if line.startswith("usage_usec")
            )
        return int(text) / scale
    import resource

    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def grades(grader: grading.Grader) -> dict[str, dict[str, float]]:
    """Every pair's score per graded cell, from the gradebook."""
    from nbgrader.api import Gradebook, MissingEntry

    out: dict[str, dict[str, float]] = {}
    database = grader.paths.course / "gradebook.db"
    with Gradebook(f"sqlite:///{database}", course_id=COURSE) as gradebook:
        for student in gradebook.students:
            try:
                submission = gradebook.find_submission(ASSIGNMENT, student.id)
            except MissingEntry:
                continue
            out[student.id] = {
                f"{notebook.name}/{grade.name}": grade.score
                for notebook in submission.notebooks
                for grade in notebook.grades
            }
    return out


def course(work: Path, name: str, worksheets: Path, lang: str, **options) -> grading.Grader:
    paths = grading.Paths(
        exchange=work / name / "exchange",
        course=work / name / "course",
        source=worksheets / lang / "source",
        config=worksheets / lang / "nbgrader_config.py",
        snapshots=work / name / "snapshots",
        out=work / name / "out",
    )
    return grading.Grader(COURSE, paths, step_timeout=3600, **options)


def run_in_image(
    image: str,
    pairs: int,
    workers: int,
    full: int,
    lang: str,
    timeout: float,
    name: str | None = None,
) -> dict:
    """Run this script in a container *name* of *image* (root, no network); its figures."""
    work = Path(tempfile.mkdtemp(prefix="collect-bench-"))
    name = name or f"collect-bench-{os.getpid()}"
    command = ["docker", "run", "--rm", "--name", name, "--user", "0:0", "--network", "none"]
    command += ["-v", f"{ROOT / 'worksheets'}:/repo/worksheets:ro"]
    command += ["-v", f"{ROOT / 'tests'}:/repo/tests:ro", "-v", f"{work}:/work"]
    command += ["--entrypoint", "python3", image, "/repo/tests/grading_replay.py"]
    command += ["--worksheets", "/repo/worksheets", "--work", "/work", f"--lang={lang}"]
    command += [f"--pairs={pairs}", f"--workers={workers}", f"--full={full}"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)
        raise
    finally:
        # the container wrote as root
        cleanup = ["docker", "run", "--rm", "-v", f"{work}:/work", "--entrypoint", "sh", image]
        subprocess.run([*cleanup, "-c", "rm -rf /work/*"], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"grading_replay failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return json.loads(lines[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worksheets", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--lang", default="en")
    parser.add_argument("--pairs", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--full", type=int, default=2, help="pairs graded again without replay")
    args = parser.parse_args(argv)
    os.environ["MASTERCLASS_LANG"] = args.lang
    figures: dict = {"pairs": args.pairs, "workers": args.workers, "lang": args.lang}

    # 1. the release
    replayed = course(args.work, "replay", args.worksheets, args.lang, workers=args.workers)
    replayed.release(ASSIGNMENT)
    released = replayed.paths.exchange / COURSE / "outbound" / ASSIGNMENT

    # 2. one pair works the worksheet in its server
    folder = args.work / "pair" / ASSIGNMENT
    shutil.copytree(released, folder)
    nb = filled(released / NOTEBOOK, args.worksheets / args.lang / "source" / ASSIGNMENT / NOTEBOOK)
    os.environ["JUPYTERHUB_USER"] = "pair-01"
    os.environ["MASTERCLASS_RESULTS_URL"] = ""
    start, cpu = time.monotonic(), cpu_seconds()
    NotebookClient(
        nb, timeout=1800, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    ).execute()
    figures["pair_run_s"] = round(time.monotonic() - start, 1)
    figures["pair_run_cpu_s"] = round(cpu_seconds() - cpu, 1)
    nbformat.write(nb, folder / NOTEBOOK)
    del os.environ["JUPYTERHUB_USER"]
    recordings = sorted(p.name for p in (folder / "masterclass-trainings").glob("*.npz"))
    figures["recordings"] = len(recordings)

    # 3. the same folder submitted by every pair
    data = pack(folder)
    figures["submission_kb"] = round(len(data) / 1024)
    users = [f"pair-{i:02d}" for i in range(1, args.pairs + 1)]
    full = course(args.work, "full", args.worksheets, args.lang, workers=args.workers, replay=False)
    full.release(ASSIGNMENT)
    for grader, count in ((replayed, args.pairs), (full, args.full)):
        store = Store(grader.paths.exchange, COURSE)
        for user in users[:count]:
            store.submit(user, ASSIGNMENT, data)

    # 4. collect with replay; 5. collect again, training anew
    for name, grader in (("replay", replayed), ("full", full)):
        start, cpu = time.monotonic(), cpu_seconds()
        report = grader.collect(ASSIGNMENT)
        seconds = time.monotonic() - start
        figures[f"{name}_collect_cpu_s"] = round(cpu_seconds() - cpu, 1)
        figures[f"{name}_collect_s"] = round(seconds, 1)
        figures[f"{name}_per_pair_s"] = round(seconds / max(len(report), 1), 1)
        figures[f"{name}_problems"] = {u: e["problem"] for u, e in report.items() if "problem" in e}
        figures[f"{name}_grades"] = grades(grader)
    same = {
        user: figures["replay_grades"].get(user) == cells
        for user, cells in figures["full_grades"].items()
    }
    figures["identical"] = bool(same) and all(same.values())
    # Did autograde really replay? Keras prints "/step" only while it trains.
    autograded = replayed.paths.course / "autograded" / users[0] / ASSIGNMENT / NOTEBOOK
    outputs = json.dumps(nbformat.read(autograded, as_version=4).cells)
    figures["replay_trained"] = "/step" in outputs
    print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
