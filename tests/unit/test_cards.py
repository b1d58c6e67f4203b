"""Tests of the login cards: page count of the rendered PDF, QR codes decoded back, texts."""

from __future__ import annotations

import re
import stat
import subprocess
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image

from masterclass.organiser import cards
from masterclass.roster import new_passphrase

URL = "https://hub.school.example"


def logins(pairs: int, tutors: int = 1) -> dict[str, str]:
    made = {f"pair-{i:02d}": new_passphrase() for i in range(1, pairs + 1)}
    made.update({f"tutor-{i:02d}": new_passphrase() for i in range(1, tutors + 1)})
    return made


def rasterise(pdf: Path, out: Path, dpi: int = 150) -> list[Path]:
    """Render every page with poppler's pdftoppm, as a printer driver would."""
    subprocess.run(["pdftoppm", "-r", str(dpi), "-png", str(pdf), str(out / "page")], check=True)
    return sorted(out.glob("page-*.png"))


def pdf_text(pdf: Path) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout


@pytest.fixture(scope="module")
def nine_pairs(tmp_path_factory):
    """A class of 9 pairs and 2 tutors: two card pages, a tutor sheet, a summary."""
    made = logins(9, tutors=2)
    path = tmp_path_factory.mktemp("cards") / "cards.pdf"
    cards.write(path, cards.render("Gymnasium Münster, 2026-03-12", URL, made, "de"))
    return path, made


def test_the_pdf_has_card_pages_a_tutor_sheet_and_a_summary(nine_pairs, tmp_path):
    path, _ = nine_pairs
    pages = rasterise(path, tmp_path, dpi=30)
    assert len(pages) == 4 == cards.page_count(9)
    # A4 portrait at 30 dpi: 210 × 297 mm is 248 × 351 pixels (poppler rounds up).
    width, height = Image.open(pages[0]).size
    assert abs(width - 248) <= 1 and abs(height - 351) <= 1


def test_every_qr_code_decodes_to_its_pairs_login_link(nine_pairs, tmp_path):
    path, made = nine_pairs
    pages = rasterise(path, tmp_path)
    decoded = []
    for page in pages[:2]:
        decoded += [r.text for r in zxingcpp.read_barcodes(Image.open(page))]
    pairs = sorted(u for u in made if u.startswith("pair-"))
    assert sorted(decoded) == sorted(f"{URL}/hub/login?username={p}" for p in pairs)
    # The tutor sheet and the summary carry no QR code.
    assert not [r.text for p in pages[2:] for r in zxingcpp.read_barcodes(Image.open(p))]


def test_cards_show_username_passphrase_address_and_the_steps(nine_pairs):
    path, made = nine_pairs
    text = pdf_text(path)
    for username, passphrase in made.items():
        assert username in text
        assert passphrase in text
    assert URL in text
    assert "So geht's los" in text
    assert "Gymnasium Münster, 2026-03-12" in text
    assert "Tutorenblatt" in text


def test_english_cards(tmp_path):
    path = cards.write(tmp_path / "en.pdf", cards.render("Outreach day", URL, logins(1), "en"))
    text = pdf_text(path)
    assert "How to start" in text
    assert "Passphrase" in text
    assert "So geht's los" not in text


def test_the_pdf_is_readable_by_its_owner_only(nine_pairs):
    path, _ = nine_pairs
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("pairs", "pages"),
    [(1, 3), (8, 3), (9, 4), (40, 7), (41, 9), (200, 25 + 5 + 1)],
)
def test_page_count(pairs, pages):
    assert cards.page_count(pairs) == pages


def test_a_large_class_renders_with_the_predicted_page_count(tmp_path):
    path = cards.write(tmp_path / "big.pdf", cards.render("Big", URL, logins(41, 3), "en"))
    assert len(rasterise(path, tmp_path, dpi=10)) == cards.page_count(41) == 9


def test_an_unknown_language_is_refused():
    with pytest.raises(ValueError, match="unknown class language"):
        cards.render("X", URL, logins(1), "fr")


def summary_pages(path: Path, first: int) -> str:
    """The text of the pages from *first* (1-based) on: the organiser summary."""
    return subprocess.run(
        ["pdftotext", "-layout", "-f", str(first), str(path), "-"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip


@pytest.mark.parametrize(("lang", "heading"), [("de", "Organisation"), ("en", "Organisers")])
def test_the_organisers_logins_are_on_the_summary_page_only(tmp_path, lang, heading):
    made = logins(9, tutors=2)
    made.update({"organiser-01": new_passphrase(), "organiser-02": new_passphrase()})
    path = cards.write(tmp_path / "cards.pdf", cards.render("Gymnasium X", URL, made, lang))
    assert len(rasterise(path, tmp_path, dpi=10)) == cards.page_count(9)
    summary = summary_pages(path, cards.page_count(9))
    before = subprocess.run(
        ["pdftotext", "-layout", "-l", str(cards.page_count(9) - 1), str(path), "-"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert heading in summary and f"{URL}/hub/admin" in summary
    assert re.search(r"Pairs: 9\s+Tutors: 2\s+Organisers: 2\n", summary)
    for username in ("organiser-01", "organiser-02"):
        row = next(line for line in summary.splitlines() if username in line)
        assert row.split() == [username, made[username]]
        # Not on the cards nor on the tutor sheet, which tutors carry around the room.
        assert username not in before and made[username] not in before
    # The summary's commands stay on the same page.
    assert "masterclass class purge" in summary


def test_a_class_without_organisers_has_no_organiser_table(nine_pairs):
    path, _ = nine_pairs
    summary = summary_pages(path, cards.page_count(9))
    assert "organiser-" not in summary and "/hub/admin" not in summary
    assert re.search(r"Pairs: 9\s+Tutors: 2\n", summary)


def test_many_organisers_continue_on_a_further_summary_page(tmp_path):
    made = logins(1, tutors=0)
    made.update({f"organiser-{i:02d}": new_passphrase() for i in range(1, 51)})
    path = cards.write(tmp_path / "cards.pdf", cards.render("Big staff", URL, made, "en"))
    summary = summary_pages(path, cards.page_count(1))
    for username, passphrase in made.items():
        if username.startswith("organiser-"):
            assert username in summary and passphrase in summary
    assert "masterclass class purge" in summary
    # The further page is counted: what the CLI prints is what the PDF holds.
    pages = len(rasterise(path, tmp_path, dpi=10))
    assert pages == cards.pages_of(path.read_bytes()) == cards.page_count(1) + 1


@pytest.mark.parametrize("pairs", [1, 9, 41])
def test_the_pages_of_a_pdf_are_counted_as_printed(tmp_path, pairs):
    pdf = cards.render("Count", URL, logins(pairs, 2), "de")
    path = cards.write(tmp_path / "cards.pdf", pdf)
    assert cards.pages_of(pdf) == len(rasterise(path, tmp_path, dpi=10)) == cards.page_count(pairs)
