"""Running nbgrader's steps for the organiser: a one-off grader container per step.

:func:`run_grader` starts :mod:`masterclass.grading.grader` in a container made from
the student image (nbgrader and the worksheet's kernel are in there), without network,
with the stack's exchange and course volumes mounted where
:mod:`masterclass.grading.layout` says. :func:`snapshot_pair` copies the working folder
of a pair that never submitted, through the pair's own running server.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from masterclass.grading import layout, placeholder
from masterclass.grading.course import Course, check_lang
from masterclass.grading.grader import PROGRESS_PREFIX, GradingError
from masterclass.grading.report import now
from masterclass.names import stack_name
from masterclass.organiser.docker import docker_client
from masterclass.organiser.state import class_language

if TYPE_CHECKING:
    from masterclass.organiser.api import HubAPI
    from masterclass.organiser.settings import Settings

#: Files of a pair's working copy larger than this are left out of the snapshot.
SNAPSHOT_MAX_BYTES = 20 * 1024 * 1024


def load_course(path: Path) -> tuple[Course, Path]:
    """The course file and the checkout it lives in (its sources are relative to that)."""
    course = Course.load(path)
    # hub/course/course.toml → the checkout is two folders up.
    return course, path.resolve().parents[2]


def _volumes(settings: Settings, course: Course, root: Path, lang: str, snapshots, homes) -> dict:
    source, config = course.source_dir(root, lang), course.config_file(root, lang)
    if not source.is_dir() or not config.is_file():
        raise GradingError(f"the course sources are missing: {source}, {config}")
    volumes = {
        layout.exchange_volume(settings.prefix): {"bind": str(layout.EXCHANGE_DIR), "mode": "rw"},
        layout.course_volume(settings.prefix): {"bind": str(layout.COURSE_DIR), "mode": "rw"},
        str(source.resolve()): {"bind": str(layout.GRADER_SOURCE), "mode": "ro"},
        str(config.resolve()): {"bind": str(layout.GRADER_CONFIG), "mode": "ro"},
    }
    if snapshots is not None:
        volumes[str(snapshots)] = {"bind": str(layout.GRADER_SNAPSHOTS), "mode": "ro"}
    for user, volume in (homes or {}).items():
        volumes[volume] = {"bind": str(layout.GRADER_SNAPSHOTS / user), "mode": "ro"}
    return volumes


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
    progress: Callable[[dict], None] | None = None,
) -> dict:
    """Run one grader action in a throw-away container; return its JSON answer.

    *progress* is called with each progress event the grader prints while it runs.
    """
    client = docker_client()
    lang = check_lang(class_language(settings, client))
    volumes = _volumes(settings, course, root, lang, snapshots, homes)
    name = stack_name(settings.prefix, "grader")
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
        f"--out={layout.EXPORTS_DIR}",
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
        working_dir=str(layout.COURSE_DIR),
        detach=True,
    )
    lines: list[str] = []
    try:
        for line in _stdout_lines(container):
            if line.startswith(PROGRESS_PREFIX):
                if progress is not None:
                    progress(json.loads(line.removeprefix(PROGRESS_PREFIX)))
            elif line.strip():
                lines.append(line)
        status = container.wait()
        err = container.logs(stdout=False, stderr=True).decode("utf-8", "replace")
    finally:
        with contextlib.suppress(Exception):
            container.remove(force=True)
    try:
        answer = json.loads(lines[-1]) if lines else {}
    except ValueError:
        answer = {}
    if "error" in answer:
        raise GradingError(answer["error"])
    if status.get("StatusCode") != 0 or not answer:
        raise GradingError(
            f"the grader container failed (exit {status.get('StatusCode')}):\n{err[-2000:]}"
        )
    return answer


def _stdout_lines(container):
    """The container's standard output, line by line, as it is written."""
    buffer = b""
    for chunk in container.logs(stdout=True, stderr=False, stream=True, follow=True):
        buffer += chunk
        *complete, buffer = buffer.split(b"\n")
        for line in complete:
            yield line.decode("utf-8", "replace")
    if buffer:
        yield buffer.decode("utf-8", "replace")


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
                destination = target / user / item["path"]
                destination.parent.mkdir(parents=True, exist_ok=True)
                destination.write_bytes(base64.b64decode(f.json()["content"]))
                if placeholder.is_placeholder(destination):
                    destination.unlink()  # the notice before the release is no work
                    continue
                count += 1

    walk(assignment)
    if count:
        stamp = target / user / assignment / ".snapshot-time"
        stamp.write_text(now(), encoding="utf-8")
    return count
