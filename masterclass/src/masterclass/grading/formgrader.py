"""Start nbgrader's formgrader for the tutors, as an external JupyterHub service.

docker-compose.yml runs this in the ``formgrader`` container, made from the student
image, next to the hub (docs/grading.md, "The formgrader")::

    COURSE_DIR                  the course volume (gradebook, submissions, feedback)
    EXCHANGE_DIR                the exchange volume (for the formgrader's release/collect)
    /srv/checkout/hub/course    the course file, read-only
    /srv/checkout/worksheets    the worksheets' nbgrader sources and configs, read-only
    /srv/secrets                the service's API token, written by the hub, read-only

(``COURSE_DIR`` and ``EXCHANGE_DIR`` are defined in :mod:`masterclass.grading.layout`.)
It waits for the token the hub creates at start, writes the course directory's
``nbgrader_config.py`` exactly as the grader container does (plus nbgrader's own
filesystem exchange, so the formgrader's buttons work on the same exchange), copies
assignment sources the course does not have yet (never overwriting a tutor's edits)
and then becomes ``jupyterhub-singleuser`` in service mode. The JupyterHub side
(URL, token, who may open it) is ``update_services`` in hub/jupyterhub_config.py.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

from masterclass.grading import layout
from masterclass.grading.course import Course, CourseError, check_lang
from masterclass.grading.grader import Grader, Paths


def wait_for_token(path: Path, timeout: float, interval: float = 1.0) -> str:
    """The service token the hub writes on start; wait for it for at most *timeout* s."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            token = path.read_text(encoding="ascii").strip()
        except OSError:
            token = ""
        if token:
            return token
        if time.monotonic() > deadline:
            raise SystemExit(
                f"formgrader: no service token at {path} after {timeout:.0f} s; "
                "is the hub running with the same secrets volume?"
            )
        time.sleep(interval)


def prepare_course(
    course: Course, checkout: Path, lang: str, course_dir: Path, exchange: Path
) -> list[str]:
    """Write the course config and copy missing assignment sources; return those copied."""
    paths = Paths(
        exchange=exchange,
        course=course_dir,
        source=course.source_dir(checkout, lang),
        config=course.config_file(checkout, lang),
    )
    Grader(course.course_id, paths).write_config()
    copied = []
    for assignment in course.assignments:
        source, target = paths.source / assignment, paths.course / "source" / assignment
        if source.is_dir() and not target.exists():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns(".*", "__pycache__"))
            copied.append(assignment)
    return copied


def server_command(course_dir: Path) -> list[str]:
    """``jupyterhub-singleuser`` serving the course directory with the formgrader enabled."""
    return [
        "jupyterhub-singleuser",
        # The container runs as root: the course and exchange volumes belong to root.
        "--allow-root",
        f"--ServerApp.root_dir={course_dir}",
        # The student image disables the formgrader for pairs; this server is the tutors'.
        "--ServerApp.jpserver_extensions="
        "{'nbgrader.server_extensions.formgrader': True,"
        " 'nbgrader.server_extensions.course_list': False}",
        # No shell for anyone: the formgrader needs none.
        "--ServerApp.terminals_enabled=False",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--course-file", type=Path, default=Path("/srv/checkout/hub/course/course.toml")
    )
    parser.add_argument("--course-dir", type=Path, default=Path(layout.COURSE_DIR))
    parser.add_argument("--exchange", type=Path, default=Path(layout.EXCHANGE_DIR))
    parser.add_argument(
        "--token-file", type=Path, default=Path("/srv/secrets/formgrader-api-token")
    )
    parser.add_argument("--wait", type=float, default=300, help="seconds to wait for the token")
    parser.add_argument(
        "--dry-run", action="store_true", help="prepare the course, print the command, stop"
    )
    args = parser.parse_args(argv)
    try:
        course = Course.load(args.course_file)
        lang = check_lang(os.environ.get("MASTERCLASS_LANG", "de"))
    except CourseError as e:
        print(f"formgrader: {e}", file=sys.stderr)
        return 2
    checkout = args.course_file.resolve().parents[2]
    copied = prepare_course(course, checkout, lang, args.course_dir, args.exchange)
    command = server_command(args.course_dir)
    print(
        f"formgrader: course {course.course_id} ({lang}) in {args.course_dir}; "
        f"sources copied: {', '.join(copied) or 'none'}",
        flush=True,
    )
    if args.dry_run:
        print(" ".join(command))
        return 0
    os.environ["JUPYTERHUB_API_TOKEN"] = wait_for_token(args.token_file, args.wait)
    os.chdir(args.course_dir)  # nbgrader reads nbgrader_config.py from the working directory
    os.execvp(command[0], command)
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main())
