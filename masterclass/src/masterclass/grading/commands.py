"""``masterclass class release | collect | export``: nbgrader's side of the class day.

:func:`register` adds the commands to the ``class`` group (``masterclass.cli`` calls it).
Each command runs :mod:`masterclass.grading.grader` in a one-off grader container made
from the student image (nbgrader and the worksheet's kernel are in there), without
network, with the exchange and course volumes of this stack mounted.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import httpx
import typer

from masterclass.grading import grader as grading
from masterclass.grading.course import Course, CourseError, check_lang
from masterclass.hubstack import (
    EXPORT_MARKER,
    ROSTER_FILE,
    HubAPI,
    Settings,
    StackError,
    docker_client,
    json_dump,
    open_state,
    server_state,
)

PAIR = re.compile(r"^pair-\d{2,3}$")
#: Where the course directory and gradebook live (a named volume per stack).
COURSE_VOLUME = "{prefix}-course"
EXCHANGE_VOLUME = "{prefix}-exchange"
#: Files of a pair's working copy larger than this are left out of the snapshot.
SNAPSHOT_MAX_BYTES = 20 * 1024 * 1024

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


def _fail(message: str, code: int) -> typer.Exit:
    from masterclass.classday import fail

    return fail(message, code)


@contextlib.contextmanager
def _errors():
    from masterclass.classday import ExitCode

    try:
        yield
    except StackError as e:
        raise _fail(str(e), ExitCode.DOCKER if e.kind == "docker" else ExitCode.HUB) from e
    except (CourseError, grading.GradingError) as e:
        raise _fail(str(e), ExitCode.USAGE) from e


def _course(path: Path) -> tuple[Course, Path]:
    course = Course.load(path)
    # Sources in the course file are relative to the checkout (hub/course/course.toml).
    return course, path.resolve().parents[2]


def run_grader(
    settings: Settings,
    course: Course,
    root: Path,
    action: str,
    assignments: list[str],
    pairs: list[str] = (),
    snapshots: Path | None = None,
    homes: dict[str, str] | None = None,
    step_timeout: float = 3600,
) -> dict:
    """Run one grader action in a throw-away container; return its JSON answer."""
    client = docker_client()
    lang = check_lang(class_language(settings, client))
    source, config = course.source_dir(root, lang), course.config_file(root, lang)
    if not source.is_dir() or not config.is_file():
        raise grading.GradingError(f"the course sources are missing: {source}, {config}")
    volumes = {
        EXCHANGE_VOLUME.format(prefix=settings.prefix): {
            "bind": "/srv/nbgrader/exchange",
            "mode": "rw",
        },
        COURSE_VOLUME.format(prefix=settings.prefix): {
            "bind": "/srv/nbgrader/course",
            "mode": "rw",
        },
        str(source.resolve()): {"bind": "/srv/grading/source", "mode": "ro"},
        str(config.resolve()): {"bind": "/srv/grading/config.py", "mode": "ro"},
    }
    if snapshots is not None:
        volumes[str(snapshots)] = {"bind": "/srv/grading/snapshots", "mode": "ro"}
    for user, volume in (homes or {}).items():
        volumes[volume] = {"bind": f"/srv/grading/snapshots/{user}", "mode": "ro"}
    name = f"{settings.prefix}-grader"
    with contextlib.suppress(Exception):
        client.containers.get(name).remove(force=True)
    command = [
        "python3",
        "-m",
        "masterclass.grading.grader",
        action,
        *assignments,
        f"--course-id={course.course_id}",
        f"--pairs={','.join(pairs)}",
        f"--step-timeout={step_timeout}",
        "--out=/srv/nbgrader/course/exports",
    ]
    container = client.containers.run(
        settings.student_image,
        command,
        name=name,
        user="0:0",
        network_mode="none",
        environment={"MASTERCLASS_LANG": lang, "MASTERCLASS_RESULTS": "0"},
        volumes=volumes,
        mem_limit=settings.mem_limit,
        working_dir="/srv/nbgrader/course",
        detach=True,
    )
    try:
        status = container.wait()
        out = container.logs(stdout=True, stderr=False).decode("utf-8", "replace")
        err = container.logs(stdout=False, stderr=True).decode("utf-8", "replace")
    finally:
        with contextlib.suppress(Exception):
            container.remove(force=True)
    lines = out.strip().splitlines()
    try:
        answer = json.loads(lines[-1]) if lines else {}
    except ValueError:
        answer = {}
    if "error" in answer:
        raise grading.GradingError(answer["error"])
    if status.get("StatusCode") != 0 or not answer:
        raise grading.GradingError(
            f"the grader container failed (exit {status.get('StatusCode')}):\n{err[-2000:]}"
        )
    return answer


def _server_base(settings: Settings) -> str:
    return settings.api_url.rstrip("/").removesuffix("/hub/api")


def snapshot_pair(api: HubAPI, base: str, user: str, assignment: str, target: Path) -> int:
    """Copy *user*'s working folder of *assignment* through their own server, read-only."""
    http = httpx.Client(base_url=f"{base}/user/{user}/api/contents", headers=api.http.headers)
    count = 0

    def walk(path: str) -> None:
        nonlocal count
        r = http.get(f"/{path}", params={"content": 1})
        if r.status_code == 404:
            return
        r.raise_for_status()
        for item in r.json().get("content") or []:
            if item["name"].startswith("."):
                continue
            if item["type"] == "directory":
                walk(item["path"])
            elif (item.get("size") or 0) <= SNAPSHOT_MAX_BYTES:
                f = http.get(f"/{item['path']}", params={"type": "file", "format": "base64"})
                f.raise_for_status()
                import base64

                destination = target / user / item["path"]
                destination.parent.mkdir(parents=True, exist_ok=True)
                destination.write_bytes(base64.b64decode(f.json()["content"]))
                count += 1

    walk(assignment)
    if count:
        stamp = target / user / assignment / ".snapshot-time"
        stamp.write_text(grading.now(), encoding="utf-8")
    return count


def class_language(settings: Settings, client=None) -> str:
    """The language the class was created with (`class create --lang`), else MASTERCLASS_LANG."""
    try:
        text = open_state(settings, client).read(ROSTER_FILE)
        lang = json.loads(text).get("lang") if text else None
    except (StackError, ValueError, AttributeError):
        lang = None
    return lang or settings.lang


def release_command(
    assignments: AssignmentsArg = None,
    course_file: CourseOption = Path("hub/course/course.toml"),
) -> None:
    """Generate the student version (no solutions, no hidden tests) and hand it out.

    Runs nbgrader's generate_assignment on the source in the class's language (from
    `class create --lang`, else `MASTERCLASS_LANG`), checks that no solution text is
    left, and puts the student version into the exchange. Pairs whose server starts
    afterwards find the notebook already in their home; running pairs see it in
    JupyterLab's assignment list
    (Nbgrader → Assignments → Fetch). Releasing again replaces the student version;
    what a pair has already fetched is never overwritten.

    Examples:

    ```
    masterclass class release
    masterclass class release z-boson minimal
    ```
    """
    settings = Settings.from_env()
    with _errors():
        course, root = _course(course_file)
        names = assignments or list(course.assignments)
        answer = run_grader(settings, course, root, "release", names)
    for name, files in answer.items():
        typer.echo(f"Released {name} ({course.course_id}): {', '.join(files)}")


def collect_command(
    assignments: AssignmentsArg = None,
    course_file: CourseOption = Path("hub/course/course.toml"),
    timeout: TimeoutOption = 3600,
) -> None:
    """Collect every pair's work, autograde it and make the feedback.

    Takes each pair's latest submission. For a pair that never pressed submit it takes
    a read-only copy of the working folder (through the pair's running server, or from
    its home volume when the server is stopped) and marks it "not submitted". Then it
    autogrades and writes feedback per pair; a damaged notebook is reported by name and
    the others go on. Safe to run again (e.g. after late submissions).

    Examples:

    ```
    masterclass class collect
    masterclass class export
    ```
    """
    settings = Settings.from_env()
    with _errors():
        course, root = _course(course_file)
        names = assignments or list(course.assignments)
        client = docker_client()
        api = HubAPI.connect(settings, open_state(settings, client))
        models = api.users()
        pairs = sorted(u for u in models if PAIR.match(u))
        base = _server_base(settings)
        homes: dict[str, str] = {}
        with tempfile.TemporaryDirectory(prefix="masterclass-snapshots-") as tmp:
            snapshots = Path(tmp)
            os.chmod(snapshots, 0o755)
            for user in pairs:
                if server_state(models[user]) == "running":
                    for name in names:
                        try:
                            snapshot_pair(api, base, user, name, snapshots)
                        except httpx.HTTPError as e:
                            typer.echo(f"{user}: no copy of the working folder ({e})", err=True)
                else:
                    volume = settings.volume_name(user)
                    with contextlib.suppress(Exception):
                        client.volumes.get(volume)
                        homes[user] = volume
                        # The mount point inside the read-only snapshots mount.
                        (snapshots / user).mkdir()
            answer = run_grader(
                settings, course, root, "collect", names, pairs, snapshots, homes, timeout
            )
    for name, report in answer.items():
        typer.echo(f"{name}:")
        for user, entry in sorted(report.items()):
            line = f"  {user}: {entry['status']}"
            if entry.get("problem"):
                line += f" — PROBLEM: {entry['problem']}"
            typer.echo(line)


def export_command(
    assignments: AssignmentsArg = None,
    course_file: CourseOption = Path("hub/course/course.toml"),
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Folder for grades.csv and summary.md (default: class dir)."),
    ] = None,
) -> None:
    """Write the grades and results, one row per pair: grades.csv and summary.md.

    Columns: pair, assignment, submitted or not, autograde score, any problem, and
    what the worksheet recorded (test accuracy, epochs, augmentation factors, measured
    branching ratios q/e/m/t). Also notes the export time in the hub state, so that
    `masterclass class purge` may delete the pupils' data afterwards.

    Examples:

    ```
    masterclass class export
    masterclass class export --out /media/usb/results
    ```
    """
    settings = Settings.from_env()
    with _errors():
        course, root = _course(course_file)
        names = assignments or list(course.assignments)
        answer = run_grader(settings, course, root, "export", names)
        target = out or settings.class_dir
        target.mkdir(parents=True, exist_ok=True, mode=0o700)
        (target / "grades.csv").write_text(answer["csv_text"], encoding="utf-8")
        (target / "summary.md").write_text(answer["summary_text"], encoding="utf-8")
        state = open_state(settings)
        state.write(EXPORT_MARKER, json_dump({"time": datetime.now(UTC).isoformat()}))
    typer.echo(answer["summary_text"])
    typer.echo(f"Wrote {target / 'grades.csv'} and {target / 'summary.md'}")


def register(class_app: typer.Typer) -> None:
    """Add release, collect and export to the ``class`` group (replacing placeholders)."""
    class_app.command("release")(release_command)
    class_app.command("collect")(collect_command)
    class_app.command("export")(export_command)
