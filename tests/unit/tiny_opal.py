"""Tiny generated stand-ins for the OPAL raw pair, for tests of the data pipeline.

They have the upstream layout (zip members under ``centered-masked-rotated1/final/`` with
the long prefix, a ``;``-separated CRLF CSV without header) but only a few events, each
a flat colour, so that tests can check pixels exactly.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from PIL import Image

from masterclass import data

MEMBER_DIR = "centered-masked-rotated1/final/"

#: Event name → (category, colour). Order is the CSV order.
EVENTS = {
    "z1_1.png": ("q", (200, 10, 10)),
    "e1_2.png": ("e", (10, 200, 10)),
    "m1_3.png": ("m", (10, 10, 200)),
    "t1_4.png": ("t", (90, 90, 90)),
}


def png_bytes(colour=(0, 0, 0), size=(200, 200), mode="RGB", fmt="PNG") -> bytes:
    """Encode a flat image; `mode`, `size` and `fmt` make the wrong kinds."""
    buffer = io.BytesIO()
    fill = colour[0] if mode == "L" else (*colour, 255)[: len(mode)]
    Image.new(mode, size, fill).save(buffer, format=fmt)
    return buffer.getvalue()


def member_name(event: str) -> str:
    return f"{MEMBER_DIR}{data.MEMBER_PREFIX}{event}"


def write_pair(
    directory: Path,
    images: dict[str, bytes] | None = None,
    rows: list[str] | None = None,
    compression: int = zipfile.ZIP_DEFLATED,
) -> Path:
    """Write an archive and a CSV into `directory` (created) and return it.

    `images` maps event names to PNG bytes, `rows` are the CSV lines without line ends;
    both default to :data:`EVENTS`.
    """
    directory.mkdir(parents=True, exist_ok=True)
    if images is None:
        images = {name: png_bytes(colour) for name, (_, colour) in EVENTS.items()}
    if rows is None:
        rows = [f"{name};{category}" for name, (category, _) in EVENTS.items()]
    with zipfile.ZipFile(directory / data.ARCHIVE.name, "w", compression) as archive:
        archive.writestr(MEMBER_DIR, b"")
        for name, content in images.items():
            archive.writestr(member_name(name), content)
    (directory / data.CSV.name).write_bytes("".join(f"{r}\r\n" for r in rows).encode())
    return directory
