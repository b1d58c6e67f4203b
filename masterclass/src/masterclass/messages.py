"""The one message catalogue: every text pupils, tutors and organisers read, in each language.

The texts live in ``locale/<language>.toml``, one file per language with the same keys
(``tests/unit/test_messages.py`` checks keys and ``{placeholders}``). A third language
is one more file; :data:`LANGUAGES` is read from the files present. A key is
``<table>.<name>``, for example ``"errors.epochs"`` or ``"login.title"``; texts are
filled with :meth:`str.format`.

Pairs type the worksheet code by hand, so most mistakes are wrong parameters: a
:class:`StudentError` says what was expected and what to type instead. The language is
German by default, another one when ``MASTERCLASS_LANG`` names it or after
:func:`set_language`.

Examples
--------
>>> LANGUAGES
('de', 'en')
>>> text("categories.m", language="en")
'muons'
>>> text("errors.positive_int", language="de", name="count", value=0)
'count muss eine ganze Zahl ab 1 sein, ihr habt 0 eingegeben.'
"""

from __future__ import annotations

import os
import tomllib
from functools import cache
from importlib.resources import files

#: The class language when nothing else is chosen.
DEFAULT_LANGUAGE = "de"

_LOCALE = files("masterclass") / "locale"

#: Every language with a catalogue file, the default first.
LANGUAGES = tuple(
    sorted(
        (
            entry.name.removesuffix(".toml")
            for entry in _LOCALE.iterdir()
            if entry.name.endswith(".toml")
        ),
        key=lambda code: (code != DEFAULT_LANGUAGE, code),
    )
)

#: The message JupyterHub's login handler gives for a wrong login (translated on the page).
HUB_LOGIN_ERROR = "Invalid username or password"

_language: str | None = None


@cache
def catalogue(language: str) -> dict[str, str]:
    """Return every text of *language* as ``{"<table>.<name>": text}``."""
    tables = tomllib.loads((_LOCALE / f"{language}.toml").read_text(encoding="utf-8"))
    return {
        f"{table}.{name}": value
        for table, entries in tables.items()
        for name, value in entries.items()
    }


def text(key: str, *, language: str | None = None, **values: object) -> str:
    """Return the text *key* in *language* (default: the current one), filled with *values*."""
    return catalogue(language or get_language())[key].format(**values)


def table(name: str, language: str | None = None) -> dict[str, str]:
    """Return the unfilled texts of one table, ``{name: text}``, in *language*."""
    prefix = f"{name}."
    return {
        key.removeprefix(prefix): value
        for key, value in catalogue(language or get_language()).items()
        if key.startswith(prefix)
    }


def login_page_texts(language: str | None = None) -> dict[str, str]:
    """The texts of the hub's login page in *language* (default: the class language)."""
    lang = language if language in LANGUAGES else get_language()
    texts = table("login", lang)
    del texts["throttled"]  # the authenticator's, not the page's
    return texts | {"lang": lang, "hub_error": HUB_LOGIN_ERROR}


def hub_page_texts(language: str | None = None) -> dict[str, str]:
    """The texts of the hub's other pages (server starting, not running, errors)."""
    lang = language if language in LANGUAGES else get_language()
    return table("pages", lang) | {"lang": lang}


def get_language() -> str:
    """Return the language of the messages: the default ``"de"``, or the one chosen."""
    if _language is not None:
        return _language
    env = os.environ.get("MASTERCLASS_LANG", DEFAULT_LANGUAGE).strip().lower()[:2]
    return env if env in LANGUAGES else DEFAULT_LANGUAGE


def set_language(language: str) -> None:
    """Choose the language of student messages for this session.

    Parameters
    ----------
    language : str
        ``"de"`` for German or ``"en"`` for English (one of :data:`LANGUAGES`).
    """
    global _language
    code = str(language).strip().lower()[:2]
    if code not in LANGUAGES:
        expected = " / ".join(f'"{code}"' for code in LANGUAGES)
        raise StudentError("layer_value", name="language", expected=expected, value=language)
    _language = code


class StudentError(ValueError):
    """A mistake a student can fix: the message says what to type instead.

    *key* names a text of the ``[errors]`` table. In IPython the traceback is
    suppressed, so the pair sees only the message.

    Examples
    --------
    >>> print(StudentError("epochs", value=0))  # doctest: +ELLIPSIS
    count_epochs muss eine ganze Zahl ab 1 sein, ihr habt 0 eingegeben. ...
    """

    def __init__(self, key: str, **values: object) -> None:
        self.key = key
        self.values = values
        super().__init__(text(f"errors.{key}", **values))

    def _render_traceback_(self) -> list[str]:
        # IPython calls this instead of printing a long stack trace.
        return [f"\033[1;31m{text('notebook.hint')}:\033[0m {self}"]
