"""Release the course's assignments that the exchange does not have yet (`make up`'s demo).

``make up`` (hub/up.sh) runs this for the demo class in a one-off container of the
``formgrader`` service (the student image, with the course and exchange volumes and the
checkout's course file and worksheets mounted; see :mod:`masterclass.grading.formgrader`)::

    docker-compose run --rm --no-deps -T formgrader python3 -m masterclass.grading.autorelease

so the host needs no Python. It is the same release as ``masterclass class release``
(nbgrader's generate_assignment, checked for left-over solutions) in the class language
(``MASTERCLASS_LANG``), but an assignment that is already released is left alone: running
``make up`` again changes nothing, and a tutor's later release is never replaced.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from masterclass.grading import layout
from masterclass.grading.course import Course, CourseError, check_lang
from masterclass.grading.grader import Grader, GradingError, Paths


def is_released(exchange: Path, course_id: str, assignment: str) -> bool:
    """True if the exchange has a student version of *assignment*."""
    return (Path(exchange) / course_id / "outbound" / assignment).is_dir()


def release_missing(course: Course, checkout: Path, lang: str, paths: Paths) -> dict[str, list]:
    """Release every assignment of *course* the exchange lacks; ``{name: files or []}``."""
    paths.source = course.source_dir(checkout, lang)
    paths.config = course.config_file(checkout, lang)
    grader = Grader(course.course_id, paths)
    done: dict[str, list] = {}
    for name in course.assignments:
        if is_released(paths.exchange, course.course_id, name):
            done[name] = []
        else:
            done[name] = grader.release(name)
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--course-file", type=Path, default=Path("/srv/checkout/hub/course/course.toml")
    )
    parser.add_argument("--course-dir", type=Path, default=Path(layout.COURSE_DIR))
    parser.add_argument("--exchange", type=Path, default=Path(layout.EXCHANGE_DIR))
    args = parser.parse_args(argv)
    try:
        course = Course.load(args.course_file)
        lang = check_lang(os.environ.get("MASTERCLASS_LANG", "de"))
        checkout = args.course_file.resolve().parents[2]
        paths = Paths(exchange=args.exchange, course=args.course_dir)
        done = release_missing(course, checkout, lang, paths)
    except (CourseError, GradingError) as e:
        print(f"release: {e}", file=sys.stderr)
        return 1
    for name, files in done.items():
        if files:
            print(f"Released {name} ({course.course_id}, {lang}): {', '.join(files)}")
        else:
            print(f"{name} was released before; left as it is.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
