"""The class day's course: id, assignments and sources, read from ``hub/course/course.toml``."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from masterclass.grading.layout import SAFE_NAME
from masterclass.messages import LANGUAGES


class CourseError(ValueError):
    """The course file is missing or wrong; the message says what to fix."""


@dataclass(frozen=True)
class Course:
    """One course per class day (see ``hub/course/course.toml`` for every field)."""

    course_id: str
    assignments: tuple[str, ...]
    source: str = "worksheets/{lang}/source"
    nbgrader_config: str = "worksheets/{lang}/nbgrader_config.py"

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Course:
        """Read and check a course file."""
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as e:
            raise CourseError(f"cannot read the course file {path}: {e.strerror}") from e
        except tomllib.TOMLDecodeError as e:
            raise CourseError(f"the course file {path} is not valid TOML: {e}") from e
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise CourseError(f"unknown keys in {path}: {', '.join(sorted(unknown))}")
        try:
            course = cls(**{**data, "assignments": tuple(data.get("assignments", ()))})
        except TypeError as e:
            raise CourseError(f"{path}: {e}") from e
        for name in (course.course_id, *course.assignments):
            if not isinstance(name, str) or not SAFE_NAME.match(name):
                raise CourseError(
                    f"{path}: {name!r} is not a usable name (letters, digits, _ . -, no '+')"
                )
        if not course.assignments:
            raise CourseError(f"{path}: list at least one assignment")
        return course

    def source_dir(self, root: Path, lang: str) -> Path:
        """The nbgrader source directory of the class language, under the repository *root*."""
        return root / self.source.format(lang=check_lang(lang))

    def config_file(self, root: Path, lang: str) -> Path:
        """The language's nbgrader_config.py (gap stub, execution timeout)."""
        return root / self.nbgrader_config.format(lang=check_lang(lang))


def check_lang(lang: str) -> str:
    if lang not in LANGUAGES:
        raise CourseError(f"unknown class language {lang!r}; use one of {', '.join(LANGUAGES)}")
    return lang
