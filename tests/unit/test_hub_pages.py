"""The hub's pages (hub/templates/) in the class language, checked without a hub.

Every text a template names must be in the catalogue in every language (a missing key
would render as nothing), and the pages must keep what JupyterHub's scripts rely on.
What the pages look like in a browser is tests/integration/test_first_contact.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import jinja2
import pytest
from jupyterhub._data import DATA_FILES_PATH

from masterclass.messages import LANGUAGES, hub_page_texts, login_page_texts

TEMPLATES = Path(__file__).parents[2] / "hub" / "templates"
#: JupyterHub's own templates, which ours extend as "templates/<name>".
HUB_TEMPLATES = Path(DATA_FILES_PATH) / "templates"


def environment() -> jinja2.Environment:
    """The template loader JupyterHub builds (app.py): ours first, its own as templates/."""
    loader = jinja2.ChoiceLoader(
        [
            jinja2.PrefixLoader({"templates": jinja2.FileSystemLoader(str(HUB_TEMPLATES))}, "/"),
            jinja2.FileSystemLoader([str(TEMPLATES), str(HUB_TEMPLATES)]),
        ]
    )
    return jinja2.Environment(loader=loader, autoescape=True)


def names_used(template: Path, variable: str) -> set[str]:
    source = template.read_text(encoding="utf-8")
    return set(re.findall(rf"\b{variable}\.([a-z0-9_]+)", source))


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_text_a_page_names_is_in_the_catalogue(lang):
    pages = hub_page_texts(lang)
    for template in sorted(TEMPLATES.glob("*.html")):
        missing = names_used(template, "p") - set(pages) - {"get"}
        assert not missing, f"{template.name} names texts the catalogue lacks: {missing}"
    missing = names_used(TEMPLATES / "login.html", "t") - set(login_page_texts(lang))
    assert not missing, f"login.html names texts the catalogue lacks: {missing}"
    assert pages["lang"] == lang
    # Error pages: a heading for the codes pupils meet, else the general one.
    for code in (403, 404, 429, 500, 503):
        assert pages[f"error_{code}"]


def test_the_pages_are_german_by_default_and_english_on_request():
    assert hub_page_texts("de")["spawn_title"] == "Euer JupyterLab startet"
    assert hub_page_texts("en")["spawn_title"] == "Your JupyterLab is starting"
    assert hub_page_texts("xx")["lang"] == "de"  # an unknown language: the default


@pytest.mark.parametrize("name", sorted(p.name for p in TEMPLATES.glob("*.html")))
def test_every_page_compiles_and_extends_jupyterhubs(name):
    env = environment()
    template = env.get_template(name)
    assert template is not None
    # Each page overrides JupyterHub's page of that name (404 goes through our error page).
    source = (TEMPLATES / name).read_text(encoding="utf-8")
    parent = re.search(r'{% extends "([^"]+)" %}', source).group(1)
    assert parent in (f"templates/{name}", "error.html")
    env.get_template(parent)


def test_the_spawn_page_keeps_the_elements_jupyterhubs_script_fills():
    def ids(path: Path) -> set[str]:
        return set(re.findall(r'id="([a-z-]+)"', path.read_text(encoding="utf-8")))

    assert ids(HUB_TEMPLATES / "spawn_pending.html") <= ids(TEMPLATES / "spawn_pending.html")
    assert "{{ super() }}" in (TEMPLATES / "spawn_pending.html").read_text(encoding="utf-8")


def test_the_404_page_is_our_error_page_without_jupyterhubs_joke():
    source = (TEMPLATES / "404.html").read_text(encoding="utf-8")
    assert "moons" not in source and "block error_detail" not in source
