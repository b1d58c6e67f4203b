"""The message catalogue: every language has the same keys and the same placeholders."""

from __future__ import annotations

import string
import tomllib
from importlib.resources import files

import pytest

from masterclass import messages
from masterclass.messages import LANGUAGES, StudentError, catalogue, text


def placeholders(template: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}


def test_languages_come_from_the_files_with_the_default_first():
    assert LANGUAGES[0] == messages.DEFAULT_LANGUAGE == "de"
    assert set(LANGUAGES) == {"de", "en"}


@pytest.mark.parametrize("language", LANGUAGES[1:])
def test_every_language_has_the_same_keys_and_placeholders(language):
    default, other = catalogue(LANGUAGES[0]), catalogue(language)
    assert sorted(other) == sorted(default), "keys differ"
    differ = {
        key: (placeholders(default[key]), placeholders(other[key]))
        for key in default
        if placeholders(default[key]) != placeholders(other[key])
    }
    assert not differ, differ


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_text_is_a_nonempty_string_in_a_table(language):
    tables = tomllib.loads(
        (files("masterclass") / "locale" / f"{language}.toml").read_text("utf-8")
    )
    for table, entries in tables.items():
        assert isinstance(entries, dict), f"{table} is not a table"
        for name, value in entries.items():
            assert isinstance(value, str) and value.strip(), f"{table}.{name}"


def test_text_fills_placeholders_in_the_chosen_language(monkeypatch):
    monkeypatch.setattr(messages, "_language", None)
    monkeypatch.setenv("MASTERCLASS_LANG", "en")
    assert text("categories.e") == "electrons"
    assert text("categories.e", language="de") == "Elektronen"
    assert "3 Sekunden" in text("login.throttled", language="de", seconds=3)


def test_an_unknown_class_language_falls_back_to_german(monkeypatch):
    monkeypatch.setattr(messages, "_language", None)
    monkeypatch.setenv("MASTERCLASS_LANG", "fr")
    assert messages.get_language() == "de"


def test_student_error_takes_its_text_from_the_errors_table(monkeypatch):
    monkeypatch.setattr(messages, "_language", None)
    monkeypatch.delenv("MASTERCLASS_LANG", raising=False)
    error = StudentError("category", value="x")
    assert str(error) == text("errors.category", value="x")
    assert error.key == "category" and error.values == {"value": "x"}


def test_login_page_texts_leave_out_the_authenticators_message():
    texts = messages.login_page_texts("en")
    assert texts["lang"] == "en" and texts["title"] == "Sign in"
    assert "throttled" not in texts
