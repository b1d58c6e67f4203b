"""``class release | collect | export``: nbgrader's side of the class day.

Each runs one step of :mod:`masterclass.grading.grader` in a one-off grader container
(:mod:`masterclass.organiser.grader`), with the stack's exchange and course volumes.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from masterclass.names import is_pair
from masterclass.organiser import docker as engine
from masterclass.organiser import nodejobs, swarm
from masterclass.organiser.api import HubAPI, server_state
from masterclass.organiser.app import class_app, console, err_console, errors
from masterclass.organiser.board import read_board, write_board
from masterclass.organiser.errors import StackError
from masterclass.organiser.grader import (
    SNAPSHOT_MAX_BYTES,
    load_course,
    run_grader,
    snapshot_pair,
)
from masterclass.organiser.settings import Settings
from masterclass.organiser.state import EXPORT_MARKER, json_dump, open_state

CourseOption = Annotated[
    Path,
    typer.Option(
        "--course",
        envvar="MASTERCLASS_COURSE_FILE",
        help="The course file (course id, assignments, sources).",
        dir_okay=False,
    ),
]
AssignmentsArg = Annotated[
    list[str] | None,
    typer.Argument(
        help="Assignments (default: every assignment of the course file).", show_default=False
    ),
]
TimeoutOption = Annotated[
    float, typer.Option("--timeout", help="Seconds one nbgrader step of one pair may take.")
]
DEFAULT_COURSE = Path("hub/course/course.toml")


@class_app.command("release")
def release_command(
    ctx: typer.Context,
    assignments: AssignmentsArg = None,
    course_file: CourseOption = DEFAULT_COURSE,
) -> None:
    """Generate the student version (no solutions, no hidden tests) and hand it out.

    Runs nbgrader's generate_assignment on the source in the class's language (from
    `class create --lang`, else `MASTERCLASS_LANG`), checks that no solution text is
    left, and puts the student version into the exchange. Pairs whose server starts
    afterwards find the notebook already in their home; running servers fetch it within
    a minute by themselves (the pair reloads the page). Releasing again replaces the
    student version; what a pair has already fetched is never overwritten.

    Examples:

    ```
    masterclass class release
    masterclass class release z-boson extras
    ```
    """
    settings: Settings = ctx.obj
    with errors():
        course, root = load_course(course_file)
        names = assignments or list(course.assignments)
        with console.status("Generating the student version (a grader container) ..."):
            answer = run_grader(settings, course, root, "release", names)
    for name, files in answer.items():
        console.print(f"Released {name} ({course.course_id}): {', '.join(files)}")


def _snapshots(settings: Settings, api: HubAPI, client, models, pairs, names, folder: Path):
    """Working copies of running pairs into *folder*; home volumes of stopped pairs."""
    homes: dict[str, str] = {}
    # On a swarm a stopped pair's home is on its node: a node job copies it out there.
    on_swarm, stopped = swarm.active(client), []
    for user in pairs:
        if server_state(models[user]) != "running" and on_swarm:
            stopped.append(user)
        elif server_state(models[user]) == "running":
            for name in names:
                try:
                    snapshot_pair(api, settings.server_base, user, name, folder)
                except httpx.HTTPError as e:
                    err_console.print(f"{user}: no copy of the working folder ({e})")
        else:
            volume = settings.volume_name(user)
            with contextlib.suppress(Exception):
                client.volumes.get(volume)
                homes[user] = volume
                # The mount point inside the read-only snapshots mount.
                (folder / user).mkdir()
    if stopped:
        nodejobs.snapshot_stopped_pairs(
            settings, api, client, stopped, names, folder, SNAPSHOT_MAX_BYTES, err_console.print
        )
    return homes


def _line(user: str, entry: dict) -> str:
    line = f"{user}: {entry['status']}"
    if entry.get("problem"):
        line += f" — [bold red]PROBLEM:[/] {entry['problem']}"
    return line


@class_app.command("collect")
def collect_command(
    ctx: typer.Context,
    assignments: AssignmentsArg = None,
    course_file: CourseOption = DEFAULT_COURSE,
    timeout: TimeoutOption = 3600,
) -> None:
    """Collect every pair's work, autograde it and make the feedback.

    Takes each pair's latest submission. For a pair that never pressed submit it takes
    a read-only copy of the working folder (through the pair's running server, or from
    its home volume when the server is stopped) and marks it "not submitted". Then it
    autogrades and writes feedback per pair, with a line per pair as it is graded and a
    bar with an estimate; a damaged notebook is reported by name and the others go on.
    Safe to run again (e.g. after late submissions).

    Examples:

    ```
    masterclass class collect
    masterclass class export
    ```
    """
    settings: Settings = ctx.obj
    with errors():
        course, root = load_course(course_file)
        names = assignments or list(course.assignments)
        client = engine.docker_client()
        api = HubAPI.connect(settings, open_state(settings, client))
        models = api.users()
        pairs = sorted(u for u in models if is_pair(u))
        with (
            tempfile.TemporaryDirectory(prefix="masterclass-snapshots-") as tmp,
            Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=console,
            ) as progress,
        ):
            snapshots = Path(tmp)
            os.chmod(snapshots, 0o755)
            task = progress.add_task("Copying the working folders", total=len(pairs))
            homes = _snapshots(settings, api, client, models, pairs, names, snapshots)
            progress.update(task, completed=len(pairs))

            def show(event: dict) -> None:
                if event["event"] == "start":
                    progress.reset(
                        task, total=event["total"], description=f"Grading {event['assignment']}"
                    )
                elif event["event"] == "graded":
                    progress.console.print(
                        f"  {event['assignment']} · {_line(event['user'], event)}", soft_wrap=True
                    )
                    progress.advance(task)

            answer = run_grader(
                settings, course, root, "collect", names, pairs, snapshots, homes, timeout, show
            )
    for name, report in answer.items():
        console.print(f"{name}:")
        for user, entry in sorted(report.items()):
            # A problem was named in full while the pair was graded (above).
            brief = {k: v for k, v in entry.items() if k != "problem"}
            note = " — a problem, named above" if entry.get("problem") else ""
            console.print(f"  {_line(user, brief)}{note}", soft_wrap=True)


@class_app.command("export")
def export_command(
    ctx: typer.Context,
    assignments: AssignmentsArg = None,
    course_file: CourseOption = DEFAULT_COURSE,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Folder for grades.csv and summary.md (default: class dir)."),
    ] = None,
) -> None:
    """Write the grades and results, one row per pair: grades.csv and summary.md.

    Columns: pair, assignment, submitted or not, autograde score, any problem, and
    what the worksheet recorded (test accuracy, epochs, augmentation factors, measured
    branching ratios q/e/m/t). The results board goes next to them, exactly as the
    projector shows it: results-board.json and results-board.csv. Also notes the export
    time in the hub state, so that `masterclass class purge` may delete the pupils' data
    afterwards.

    Examples:

    ```
    masterclass class export
    masterclass class export --out /media/usb/results
    ```
    """
    settings: Settings = ctx.obj
    with errors():
        course, root = load_course(course_file)
        names = assignments or list(course.assignments)
        answer = run_grader(settings, course, root, "export", names)
        target = out or settings.class_dir
        target.mkdir(parents=True, exist_ok=True, mode=0o700)
        (target / "grades.csv").write_text(answer["csv_text"], encoding="utf-8")
        (target / "summary.md").write_text(answer["summary_text"], encoding="utf-8")
        board = _export_board(settings, target)
        open_state(settings).write(
            EXPORT_MARKER, json_dump({"time": datetime.now(UTC).isoformat()})
        )
    console.print(answer["summary_text"], markup=False, highlight=False)
    console.print(f"Wrote {target / 'grades.csv'} and {target / 'summary.md'}")
    console.print(board)


def _export_board(settings: Settings, target: Path) -> str:
    """The results board next to the grades (the same store the projector shows)."""
    try:
        client = engine.docker_client()
    except StackError as e:
        return f"The results board was not exported: {e}"
    view = read_board(settings, client)
    if view is None:
        return "The results board was not exported: the hub is not running."
    files = write_board(view, target)
    return f"Wrote {' and '.join(str(f) for f in files)} ({len(view['pairs'])} pairs on the board)"
