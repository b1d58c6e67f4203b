"""Printable login cards of a class: one A4 PDF with the pairs' cards, a tutor sheet and a summary.

Page layout (A4 portrait):

- **cards**: 8 cards per page (2 × 4, each 105 × 74 mm, cut along the grey lines). A
  card shows the hub address, the username, the passphrase, a QR code that opens the
  login page with the username filled in (``<url>/hub/login?username=pair-01``) and
  three "how to start" steps in the class language;
- **tutor sheet**: the tutors' logins and every pair's login, for a pair that lost
  its card (:data:`TUTOR_ROWS` pairs per page);
- **organiser summary**: class, address, numbers, the organisers' logins (hub admins;
  on no other page) and the commands of the day.

The PDF holds plaintext passphrases, so it is written with mode 600. PDF: reportlab;
QR codes: segno, drawn as vector squares so that they print sharp at any size.
The words on the cards are the ``[cards]`` table of the message catalogue
(:mod:`masterclass.messages`).
"""

from __future__ import annotations

import io
import math
import os
import re
from datetime import datetime
from pathlib import Path

import segno
from reportlab.lib.colors import Color, black
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfgen.canvas import Canvas

from masterclass.files import write_atomic
from masterclass.messages import LANGUAGES, table
from masterclass.names import is_pair, login_url, parse_username

#: Cards on one page (2 columns × 4 rows of A7 landscape cards).
COLUMNS, ROWS = 2, 4
CARDS_PER_PAGE = COLUMNS * ROWS
#: Pair rows on one page of the tutor sheet.
TUTOR_ROWS = 40

_GREY = Color(0.6, 0.6, 0.6)
#: Nothing is drawn below this height of a page (the printer's margin).
_BOTTOM = 15 * mm


def page_count(pairs: int) -> int:
    """Pages to plan for: card pages, tutor-sheet pages and one summary page.

    A class with more organisers than fit on the summary page gets one page more; what
    a PDF really holds is :func:`pages_of`.
    """
    return math.ceil(pairs / CARDS_PER_PAGE) + max(1, math.ceil(pairs / TUTOR_ROWS)) + 1


def pages_of(pdf: bytes) -> int:
    """The number of pages of a PDF made by :func:`render` (its page objects)."""
    return len(re.findall(rb"/Type /Page\b(?!s)", pdf))


def render(
    class_name: str,
    url: str,
    logins: dict[str, str],
    lang: str = "de",
    created: str | None = None,
) -> bytes:
    """The PDF (bytes) for ``logins`` (username → passphrase: pairs, tutors, organisers)."""
    if lang not in LANGUAGES:
        raise ValueError(f"unknown class language {lang!r}; use one of {', '.join(LANGUAGES)}")
    text = table("cards", lang)
    pairs = sorted(u for u in logins if is_pair(u))
    tutors = sorted(u for u in logins if (parse_username(u) or ("",))[0] == "tutor")
    organisers = sorted(u for u in logins if (parse_username(u) or ("",))[0] == "organiser")
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, pageCompression=1)
    canvas.setTitle(f"{class_name}: login cards")
    canvas.setAuthor("Masterclass Hub")
    for start in range(0, len(pairs), CARDS_PER_PAGE):
        _card_page(canvas, class_name, url, text, pairs[start : start + CARDS_PER_PAGE], logins)
    _tutor_sheet(canvas, class_name, url, text, tutors, pairs, logins)
    _summary(canvas, class_name, url, text, len(pairs), tutors, organisers, logins, created)
    canvas.save()
    return buffer.getvalue()


def write(path: str | os.PathLike, pdf: bytes) -> Path:
    """Write ``pdf`` to ``path`` atomically with mode 600 (it holds passphrases)."""
    return write_atomic(path, pdf, 0o600)


# --------------------------------------------------------------------------- drawing


def _qr(canvas: Canvas, data: str, x: float, y: float, size: float) -> None:
    """Draw the QR code of ``data`` as black squares in a ``size`` square at (x, y)."""
    code = segno.make_qr(data, error="m")
    matrix = code.matrix
    quiet = 2  # modules of white border; the card's margin adds the rest
    n = len(matrix) + 2 * quiet
    module = size / n
    canvas.setFillColor(black)
    for row, line in enumerate(matrix):
        run_start = None
        for col, dark in enumerate([*line, 0]):
            if dark and run_start is None:
                run_start = col
            elif not dark and run_start is not None:
                canvas.rect(
                    x + (quiet + run_start) * module,
                    y + size - (quiet + row + 1) * module,
                    (col - run_start) * module,
                    module,
                    stroke=0,
                    fill=1,
                )
                run_start = None


def _card_page(canvas, class_name, url, text, usernames, logins) -> None:
    width, height = A4
    card_w, card_h = width / COLUMNS, height / ROWS
    canvas.setStrokeColor(_GREY)
    canvas.setLineWidth(0.3)
    canvas.setDash(2, 3)
    for col in range(1, COLUMNS):
        canvas.line(col * card_w, 0, col * card_w, height)
    for row in range(1, ROWS):
        canvas.line(0, row * card_h, width, row * card_h)
    canvas.setDash()
    for index, username in enumerate(usernames):
        col, row = index % COLUMNS, index // COLUMNS
        x0, y0 = col * card_w, height - (row + 1) * card_h
        _card(canvas, x0, y0, card_w, card_h, class_name, url, text, username, logins[username])
    canvas.showPage()


def _card(canvas, x0, y0, w, h, class_name, url, text, username, passphrase) -> None:
    pad = 6 * mm
    qr_size = 34 * mm
    top = y0 + h - pad
    canvas.setFillColor(black)
    canvas.setFont("Helvetica", 6.5)
    canvas.drawString(x0 + pad, top - 2, _fit(canvas, text["title"], "Helvetica", 6.5, w - 2 * pad))
    canvas.setFont("Helvetica-Oblique", 7)
    canvas.drawString(
        x0 + pad, top - 11, _fit(canvas, class_name, "Helvetica-Oblique", 7, w - 2 * pad)
    )
    text_w = w - 2 * pad - qr_size - 3 * mm
    y = top - 25
    for label, value, font, size in (
        (text["username"], username, "Helvetica-Bold", 15),
        (text["passphrase"], passphrase, "Courier-Bold", 11),
        (text["address"], url, "Helvetica", 8),
    ):
        canvas.setFont("Helvetica", 6.5)
        canvas.drawString(x0 + pad, y, label)
        canvas.setFont(font, size)
        canvas.drawString(x0 + pad, y - size - 1, _fit(canvas, value, font, size, text_w))
        y -= size + 13
    _qr(canvas, login_url(url, username), x0 + w - pad - qr_size, top - 15 - qr_size, qr_size)
    canvas.setFont("Helvetica-Bold", 7.5)
    y = y0 + pad + 3 * 9
    canvas.drawString(x0 + pad, y, text["start"])
    canvas.setFont("Helvetica", 7.5)
    steps = [text[key] for key in sorted(text) if key.startswith("step_")]
    for number, step in enumerate(steps, 1):
        y -= 9
        canvas.drawString(
            x0 + pad, y, _fit(canvas, f"{number}. {step}", "Helvetica", 7.5, w - 2 * pad)
        )


def _fit(canvas, value: str, font: str, size: float, width: float) -> str:
    """``value`` shortened with an ellipsis so that it fits ``width``."""
    if canvas.stringWidth(value, font, size) <= width:
        return value
    while value and canvas.stringWidth(value + "…", font, size) > width:
        value = value[:-1]
    return value + "…"


def _header(canvas, heading: str, class_name: str, url: str) -> float:
    width, height = A4
    canvas.setFont("Helvetica-Bold", 16)
    canvas.drawString(20 * mm, height - 25 * mm, heading)
    canvas.setFont("Helvetica", 10)
    canvas.drawString(
        20 * mm, height - 32 * mm, _fit(canvas, class_name, "Helvetica", 10, width - 40 * mm)
    )
    canvas.drawString(20 * mm, height - 38 * mm, url)
    return height - 50 * mm


def _table(canvas, y: float, rows: list[tuple[str, str]]) -> float:
    for username, passphrase in rows:
        canvas.setFont("Helvetica-Bold", 10)
        canvas.drawString(25 * mm, y, username)
        canvas.setFont("Courier", 10)
        canvas.drawString(60 * mm, y, passphrase)
        y -= 5.5 * mm
    return y


def _tutor_sheet(canvas, class_name, url, text, tutors, pairs, logins) -> None:
    chunks = [pairs[i : i + TUTOR_ROWS] for i in range(0, len(pairs), TUTOR_ROWS)] or [[]]
    for page, chunk in enumerate(chunks):
        suffix = f" ({page + 1}/{len(chunks)})" if len(chunks) > 1 else ""
        y = _header(canvas, text["tutor_sheet"] + suffix, class_name, url)
        if page == 0:
            canvas.setFont("Helvetica", 9)
            for line in simpleSplit(text["tutor_intro"], "Helvetica", 9, 170 * mm):
                canvas.drawString(20 * mm, y, line)
                y -= 4.5 * mm
            y -= 6 * mm
            canvas.setFont("Helvetica-Bold", 12)
            canvas.drawString(20 * mm, y, text["tutors"])
            y = _table(canvas, y - 7 * mm, [(t, logins[t]) for t in tutors]) - 6 * mm
        canvas.setFont("Helvetica-Bold", 12)
        canvas.drawString(20 * mm, y, text["pairs"])
        _table(canvas, y - 7 * mm, [(p, logins[p]) for p in chunk])
        canvas.showPage()


def _summary(canvas, class_name, url, text, pairs, tutors, organisers, logins, created) -> None:
    """The organiser's page: numbers, the organisers' logins, the commands of the day.

    The organisers' logins continue on a further page in the rare class whose
    organisers do not fit on one.
    """
    y = _header(canvas, text["summary"], class_name, url)
    counts = f"Pairs: {pairs}    Tutors: {len(tutors)}"
    if organisers:
        counts += f"    Organisers: {len(organisers)}"
    for line in (counts, f"Created: {created or datetime.now().isoformat(timespec='minutes')}"):
        canvas.setFont("Helvetica", 10)
        canvas.drawString(20 * mm, y, line)
        y -= 6 * mm
    y -= 6 * mm
    if organisers:
        canvas.setFont("Helvetica-Bold", 12)
        canvas.drawString(20 * mm, y, text["organisers"])
        y -= 6 * mm
        canvas.setFont("Helvetica", 9)
        intro = text["organiser_intro"].format(url=url.rstrip("/"))
        for line in simpleSplit(intro, "Helvetica", 9, 170 * mm):
            canvas.drawString(20 * mm, y, line)
            y -= 4.5 * mm
        y -= 3 * mm
        for username in organisers:
            if y < _BOTTOM:
                canvas.showPage()
                y = _header(canvas, text["summary"], class_name, url)
            y = _table(canvas, y, [(username, logins[username])])
        y -= 6 * mm
    lines = [
        "The evening before:",
        "    masterclass class check        # go / no-go for this server",
        "    print this PDF; cut the cards along the grey lines",
        "In the morning:",
        "    masterclass class warm --start # images ready, every pair's server running",
        "During the day:",
        "    masterclass class status       # who is logged in, memory, last activity",
        "At the end:",
        "    export the results (nbgrader), then",
        "    masterclass class purge        # deletes accounts, containers, homes, passphrases",
        "",
        "This PDF holds every passphrase: keep it safe and shred the cards after the day.",
    ]
    if y - len(lines) * 6 * mm < _BOTTOM:
        canvas.showPage()
        y = _header(canvas, text["summary"], class_name, url)
    for line in lines:
        canvas.setFont("Courier" if line.startswith("    ") else "Helvetica", 10)
        canvas.drawString(20 * mm, y, line)
        y -= 6 * mm
    canvas.showPage()
