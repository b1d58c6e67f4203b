"""Release, collect (with autograde and feedback) and export, on the hub side of the exchange.

``masterclass class release | collect | export`` runs this module in a one-off grader
container made from the student image (it has nbgrader and the kernel the worksheet
needs), without network, next to the hub, with these mounts::

the exchange and course volumes, the class language's nbgrader source folder and
config (read-only) and the working copies of pairs that never submitted (read-only),
at the places :mod:`masterclass.grading.layout` defines.

Every path is an option, so the same code runs on a plain directory in the unit tests.
Each step is safe to repeat: releases and submitted copies are replaced as a whole,
autograde and feedback run with ``--force``, and a broken notebook of one pair is
reported by name without stopping the others.

Collect grades in batches of up to :attr:`Grader.batch` pairs, one nbgrader process for
the autograde of a batch and one for its feedback (each process start costs seconds),
:attr:`Grader.workers` batches at a time (two by default, one per core of a small
server); a pair a batch could not grade is graded alone, which names its problem.
Autograde replays the trainings each pair's server recorded (``MASTERCLASS_REPLAY=1``,
:mod:`masterclass.toolkit.replay`) instead of training again: the same network, so the
same checks pass (``--no-replay`` trains again).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from masterclass.grading import layout
from masterclass.grading.report import (
    COLUMNS,
    NO_WORK,
    NOT_SUBMITTED,
    SUBMITTED,
    factors_text,
    number,
    read_json,
    summary,
)
from masterclass.names import RESULTS_FILE

#: What collect writes per assignment; export and the CLI read it.
REPORT = "collect.json"
#: Text nbgrader must have removed from the student version.
FORBIDDEN = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")


#: nbgrader's filesystem exchange, step by step (nbgrader.exchange.default); the release
#: leaves the exchange root 0755 instead of 0777 (masterclass.grading.nbexchange).
DEFAULT_EXCHANGE = {
    "list": "nbgrader.exchange.default.ExchangeList",
    "fetch_assignment": "nbgrader.exchange.default.ExchangeFetchAssignment",
    "submit": "nbgrader.exchange.default.ExchangeSubmit",
    "fetch_feedback": "nbgrader.exchange.default.ExchangeFetchFeedback",
    "release_assignment": "masterclass.grading.nbexchange.ReleaseAssignment",
    "release_feedback": "nbgrader.exchange.default.ExchangeReleaseFeedback",
    "collect": "nbgrader.exchange.default.ExchangeCollect",
}


class GradingError(RuntimeError):
    """A step that cannot go on (the message names what and why)."""


@dataclass
class Paths:
    exchange: Path = Path(layout.EXCHANGE_DIR)
    course: Path = Path(layout.COURSE_DIR)
    source: Path = Path(layout.GRADER_SOURCE)
    config: Path = Path(layout.GRADER_CONFIG)
    snapshots: Path = Path(layout.GRADER_SNAPSHOTS)
    out: Path = Path("/srv/grading/out")


@dataclass
class Grader:
    course_id: str
    paths: Paths = field(default_factory=Paths)
    #: Seconds one nbgrader step of one pair may take before it counts as failed.
    step_timeout: float = 3600
    #: Called as ``progress(event)`` while collecting (see :data:`PROGRESS_PREFIX`).
    progress: Callable[[dict], None] | None = None
    #: Pairs graded at the same time (each runs nbgrader and a kernel).
    workers: int = 2
    #: Replay the trainings the pairs' servers recorded instead of training again.
    replay: bool = True
    #: Pairs per nbgrader run (one autograde and one feedback process per batch).
    batch: int = 5
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # ------------------------------------------------------------------ setup
    def write_config(self) -> None:
        """The course directory's nbgrader_config.py: ids, paths and the language's settings."""
        course = self.paths.course
        course.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.paths.config, course / "language_config.py")
        (course / "nbgrader_config.py").write_text(
            "# Written by masterclass.grading.grader on every run; edit hub/course/ instead.\n"
            "c = get_config()  # noqa: F821\n"
            f"c.CourseDirectory.course_id = {self.course_id!r}\n"
            f"c.CourseDirectory.root = {str(course)!r}\n"
            f"c.Exchange.root = {str(self.paths.exchange)!r}\n"
            "# The grader and the formgrader use nbgrader's own exchange on the exchange\n"
            "# volume; the image-wide config sends the pairs' steps to the exchange service.\n"
            + "".join(
                f"c.ExchangeFactory.{step} = {cls!r}\n" for step, cls in DEFAULT_EXCHANGE.items()
            )
            + "load_subconfig('language_config.py')  # noqa: F821\n",
            encoding="utf-8",
        )

    def nbgrader(self, *args: str, timeout: float | None = None) -> subprocess.CompletedProcess:
        env = dict(os.environ)
        # nbgrader runs alembic as a program: the venv's bin must be on PATH.
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        # Autograding must not write results files of its own; the pair's file counts.
        env["MASTERCLASS_RESULTS"] = "0"
        env["MASTERCLASS_REPLAY"] = "1" if self.replay else "0"
        return subprocess.run(
            [sys.executable, "-m", "nbgrader", *args],
            cwd=self.paths.course,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout or self.step_timeout,
            check=False,
        )

    # ---------------------------------------------------------------- release
    def release(self, assignment: str) -> list[str]:
        """Generate the student version and put it into the exchange's outbound folder."""
        check_name(assignment)
        source = self.paths.source / assignment
        if not source.is_dir():
            raise GradingError(f"no source folder {source} for {assignment}")
        self.write_config()
        target = self.paths.course / "source" / assignment
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(source, target, ignore=shutil.ignore_patterns(".*", "__pycache__"))
        run = self.nbgrader("generate_assignment", assignment, "--force")
        if run.returncode != 0:
            raise GradingError(f"nbgrader generate_assignment {assignment} failed:\n{tail(run)}")
        release = self.paths.course / "release" / assignment
        leaks = solution_leaks(release)
        if leaks:
            raise GradingError(f"the student version still contains solutions: {leaks}")
        outbound = self.paths.exchange / self.course_id / "outbound"
        outbound.mkdir(parents=True, exist_ok=True)
        staging = outbound / f".{assignment}.new"
        if staging.exists():
            shutil.rmtree(staging)
        shutil.copytree(release, staging)
        old = outbound / f".{assignment}.old"
        if (outbound / assignment).exists():
            if old.exists():
                shutil.rmtree(old)
            (outbound / assignment).rename(old)
        staging.rename(outbound / assignment)
        if old.exists():
            shutil.rmtree(old)
        return sorted(p.name for p in (outbound / assignment).rglob("*") if p.is_file())

    # ---------------------------------------------------------------- collect
    def latest_submissions(self, assignment: str) -> dict[str, Path]:
        """The newest inbound folder of every user for *assignment*."""
        inbound = self.paths.exchange / self.course_id / "inbound"
        latest: dict[str, tuple[str, Path]] = {}
        for folder in (
            inbound.glob(layout.inbound_glob(assignment=assignment)) if inbound.is_dir() else []
        ):
            parsed = layout.parse_inbound(folder.name)
            if parsed is None or parsed.assignment != assignment:
                continue
            user, timestamp = parsed.user, parsed.timestamp
            if user not in latest or timestamp > latest[user][0]:
                latest[user] = (timestamp, folder)
        return {user: folder for user, (_, folder) in sorted(latest.items())}

    def collect(self, assignment: str, pairs: list[str] = ()) -> dict:
        """Copy in the latest submissions and the snapshots, autograde, make feedback."""
        check_name(assignment)
        self.write_config()
        report: dict[str, dict] = {}
        for user, folder in self.latest_submissions(assignment).items():
            timestamp = (folder / "timestamp.txt").read_text(encoding="utf-8").strip()
            self._place(folder, user, assignment, timestamp)
            report[user] = {"status": SUBMITTED, "submitted_at": timestamp}
        snapshots = self.paths.snapshots
        for folder in sorted(snapshots.glob(f"*/{assignment}")) if snapshots.is_dir() else []:
            user = folder.parent.name
            if user in report or not layout.SAFE_NAME.match(user):
                continue
            taken = snapshot_time(folder)
            self._place(folder, user, assignment, taken)
            report[user] = {"status": NOT_SUBMITTED, "submitted_at": None, "snapshot_at": taken}
        for user in pairs:
            report.setdefault(user, {"status": NO_WORK, "submitted_at": None})
        todo = [user for user, entry in sorted(report.items()) if entry["status"] != NO_WORK]
        self._tell("start", assignment, total=len(todo))

        readable = []
        for user in todo:
            problem = broken_notebooks(self.paths.course / "submitted" / user / assignment)
            if problem:
                report[user]["problem"] = problem
                self._tell("graded", assignment, user=user, **report[user])
            else:
                readable.append(user)
        size = max(1, self.batch)
        batches = [readable[i : i + size] for i in range(0, len(readable), size)]

        def grade(users: list[str]) -> None:
            for user, outcome in self._grade_batch(users, assignment).items():
                report[user].update(outcome)
                self._tell("graded", assignment, user=user, **report[user])

        with ThreadPoolExecutor(max_workers=max(1, self.workers)) as pool:
            list(pool.map(grade, batches))
        out = self.paths.course / "reports" / assignment
        out.mkdir(parents=True, exist_ok=True)
        (out / REPORT).write_text(json.dumps(report, indent=2, sort_keys=True), encoding="utf-8")
        return report

    def _tell(self, event: str, assignment: str, **details) -> None:
        if self.progress is not None:
            with self._lock:
                self.progress({"event": event, "assignment": assignment, **details})

    def _place(self, folder: Path, user: str, assignment: str, timestamp: str) -> None:
        target = self.paths.course / "submitted" / user / assignment
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(folder, target, ignore=shutil.ignore_patterns(".*", "feedback"))
        (target / "timestamp.txt").write_text(timestamp, encoding="utf-8")

    def _gradebook_step(self, *args: str, timeout: float | None = None):
        """An nbgrader step; again if another worker held the gradebook (sqlite) too long."""
        for attempt in range(4):
            run = self.nbgrader(*args, timeout=timeout)
            if run.returncode == 0 or "database is locked" not in tail(run, 40):
                return run
            time.sleep(1 + attempt)
        return run

    def _grade_batch(self, users: list[str], assignment: str) -> dict[str, dict]:
        """Autograde and feedback for *users*, one nbgrader run each; the outcome per pair.

        nbgrader goes on after a pair's notebook fails and removes that pair's output, so
        a pair counts as graded when its output is newer than the run. The others are
        graded alone (:meth:`_grade`), which says what went wrong.
        """
        if len(users) == 1:
            return {users[0]: self._grade(users[0], assignment)}
        course = self.paths.course

        def only(chosen: list[str]) -> list[str]:
            everyone = [p.name for p in (course / "submitted").iterdir() if p.is_dir()]
            exclude = ",".join(sorted(set(everyone) - set(chosen)))
            return ["--student", "*", f"--CourseDirectory.student_id_exclude={exclude}"]

        def newer(folder: str, user: str, suffix: str, since: float) -> bool:
            files = (course / folder / user / assignment).glob(f"*{suffix}")
            return any(f.stat().st_mtime >= since for f in files)

        timeout = self.step_timeout * len(users)
        outcome: dict[str, dict] = {}
        started = time.time() - 1
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._gradebook_step("autograde", assignment, *only(users), "--force", timeout=timeout)
        graded = [u for u in users if newer("autograded", u, ".ipynb", started)]
        if graded:
            started = time.time() - 1
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._gradebook_step(
                    "generate_feedback", assignment, *only(graded), "--force", timeout=timeout
                )
            for user in graded:
                if newer("feedback", user, ".html", started):
                    self._publish_feedback(user, assignment)
                    outcome[user] = {}
        for user in users:
            if user not in outcome:
                outcome[user] = self._grade(user, assignment)
        return outcome

    def _publish_feedback(self, user: str, assignment: str) -> None:
        source = self.paths.course / "feedback" / user / assignment
        target = self.paths.exchange / self.course_id / "feedback" / user / assignment
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        for html in source.glob("*.html"):
            shutil.copyfile(html, target / html.name)

    def _grade(self, user: str, assignment: str) -> dict:
        try:
            run = self._gradebook_step("autograde", assignment, "--student", user, "--force")
        except subprocess.TimeoutExpired:
            return {"problem": f"autograde took longer than {self.step_timeout:.0f} s"}
        if run.returncode != 0:
            return {"problem": f"autograde failed: {tail(run, 6)}"}
        try:
            feedback = self._gradebook_step(
                "generate_feedback", assignment, "--student", user, "--force"
            )
        except subprocess.TimeoutExpired:
            return {"problem": "feedback generation took too long"}
        if feedback.returncode != 0:
            return {"problem": f"feedback failed: {tail(feedback, 6)}"}
        self._publish_feedback(user, assignment)
        return {}

    # ----------------------------------------------------------------- export
    def rows(self, assignment: str) -> list[dict]:
        """One row per pair: status, score and the results the worksheet recorded."""
        report_file = self.paths.course / "reports" / assignment / REPORT
        if not report_file.is_file():
            raise GradingError(f"{assignment} has not been collected yet: run collect first")
        report = json.loads(report_file.read_text(encoding="utf-8"))
        scores = self._scores(assignment)
        rows = []
        for user, entry in sorted(report.items()):
            folder = self.paths.course / "submitted" / user / assignment
            results = read_json(folder / RESULTS_FILE)
            ratios = results.get("measured_ratios") or {}
            score, max_score = scores.get(user, (None, None))
            if entry.get("problem"):
                score = None
            rows.append(
                {
                    "pair": user,
                    "assignment": assignment,
                    "status": entry["status"],
                    "submitted_at": entry.get("submitted_at") or "",
                    "score": "" if score is None else round(score, 2),
                    "max_score": "" if max_score is None else round(max_score, 2),
                    "problem": entry.get("problem", ""),
                    "test_accuracy": number(results.get("test_accuracy")),
                    "epochs": results.get("epochs", ""),
                    "augmentation_factors": factors_text(results.get("augmentation_factors")),
                    **{f"measured_{c}": number(ratios.get(c)) for c in "qemt"},
                }
            )
        return rows

    def _scores(self, assignment: str) -> dict[str, tuple[float, float]]:
        database = self.paths.course / "gradebook.db"
        if not database.is_file():
            return {}
        from nbgrader.api import Gradebook, MissingEntry

        out = {}
        with Gradebook(f"sqlite:///{database}", course_id=self.course_id) as gradebook:
            for student in gradebook.students:
                try:
                    sub = gradebook.find_submission(assignment, student.id)
                except MissingEntry:
                    continue
                out[student.id] = (sub.score, sub.max_score)
        return out

    def export(self, assignments: list[str]) -> tuple[Path, Path]:
        """Write grades.csv and summary.md into the out folder; return both paths."""
        rows = [row for a in assignments for row in self.rows(a)]
        out = self.paths.out
        out.mkdir(parents=True, exist_ok=True)
        csv_path, md_path = out / "grades.csv", out / "summary.md"
        with open(csv_path, "w", newline="", encoding="utf-8") as stream:
            writer = csv.DictWriter(stream, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
        md_path.write_text(summary(self.course_id, rows), encoding="utf-8")
        return csv_path, md_path


def solution_leaks(folder: Path) -> list[str]:
    """Files of a student version that still carry solution or hidden-test markers."""
    return sorted(
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.is_file()
        and p.suffix in (".ipynb", ".py")
        and any(marker in p.read_text(encoding="utf-8", errors="replace") for marker in FORBIDDEN)
    )


def broken_notebooks(folder: Path) -> str:
    """'' if every notebook in *folder* reads and validates, else what is wrong, by name."""
    import nbformat

    problems = []
    notebooks = sorted(folder.glob("*.ipynb"))
    if not notebooks:
        return "no notebook in the submission"
    for path in notebooks:
        try:
            nbformat.validate(nbformat.read(path, as_version=4))
        except Exception as e:  # any reason nbformat gives is reported the same way
            problems.append(f"{path.name} is damaged ({type(e).__name__}: {str(e)[:120]})")
    return "; ".join(problems)


def snapshot_time(folder: Path) -> str:
    """When a working copy was taken (the CLI's note), else its newest file's time."""
    note = folder / ".snapshot-time"
    if note.is_file():
        return note.read_text(encoding="utf-8").strip()
    newest = max((p.stat().st_mtime for p in folder.rglob("*") if p.is_file()), default=0)
    when = datetime.datetime.fromtimestamp(newest, datetime.UTC)
    return when.strftime("%Y-%m-%d %H:%M:%S.%f UTC")


def check_name(name: str) -> str:
    try:
        return layout.check_name(name)
    except layout.LayoutError as e:
        raise GradingError(str(e)) from None


def tail(run: subprocess.CompletedProcess, lines: int = 20) -> str:
    text = (run.stderr or "") + (run.stdout or "")
    return " | ".join(line for line in text.strip().splitlines()[-lines:])


#: Lines of the grader's output that report progress (the last line is the JSON answer).
PROGRESS_PREFIX = "progress: "


def print_progress(event: dict) -> None:
    print(PROGRESS_PREFIX + json.dumps(event), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("release", "collect", "export"))
    parser.add_argument("assignments", nargs="+")
    parser.add_argument("--course-id", required=True)
    parser.add_argument("--pairs", default="", help="comma-separated pairs of the roster")
    parser.add_argument("--step-timeout", type=float, default=3600)
    parser.add_argument("--workers", type=int, default=2, help="pairs graded at the same time")
    parser.add_argument(
        "--no-replay", action="store_true", help="train again instead of replaying recordings"
    )
    for name, default in vars(Paths()).items():
        parser.add_argument(f"--{name}", type=Path, default=default)
    args = parser.parse_args(argv)
    paths = Paths(**{name: getattr(args, name) for name in vars(Paths())})
    grader = Grader(
        args.course_id,
        paths,
        args.step_timeout,
        print_progress,
        workers=args.workers,
        replay=not args.no_replay,
    )
    pairs = [p for p in args.pairs.split(",") if p]
    try:
        if args.action == "release":
            result = {a: grader.release(a) for a in args.assignments}
        elif args.action == "collect":
            result = {a: grader.collect(a, pairs) for a in args.assignments}
        else:
            csv_path, md_path = grader.export(args.assignments)
            result = {
                "csv": str(csv_path),
                "summary": str(md_path),
                "csv_text": csv_path.read_text(encoding="utf-8"),
                "summary_text": md_path.read_text(encoding="utf-8"),
            }
    except GradingError as e:
        print(json.dumps({"error": str(e)}))
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
