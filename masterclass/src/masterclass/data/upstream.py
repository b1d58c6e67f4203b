"""The two pinned upstream files of the OPAL event displays, and their checksums.

The upstream data is a pair of files (see ``../shared/opal-events/README.md``):

- ``centered-masked-rotated1.zip``: 622 PNG event displays, 200×200 RGB;
- ``events_list.csv``: one ``<event>.png;<category>`` row per image, ``;``-separated,
  CRLF line endings, no header.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from masterclass.data.errors import DataError

#: Every archive member is named ``.../final/<MEMBER_PREFIX><event>.png``; the CSV uses
#: ``<event>.png``.
MEMBER_PREFIX = "finalcenteredmaskedrotatedopencv"


@dataclass(frozen=True)
class UpstreamFile:
    """One of the two pinned upstream files.

    Attributes
    ----------
    name : str
        File name, both upstream and on disk.
    url : str
        Download address at a pinned commit, so the bytes never change.
    sha256 : str
        Expected sha256 of the file, hex.
    """

    name: str
    url: str
    sha256: str


_UPSTREAM_REPO = "https://raw.githubusercontent.com/NTW-Muenster/opal-mc-ml"

#: The archive of event displays. It only exists on a side-branch commit.
ARCHIVE = UpstreamFile(
    name="centered-masked-rotated1.zip",
    url=f"{_UPSTREAM_REPO}/b3317a6a0ac765abe1b415eb6957f3f8952b5b7e/centered-masked-rotated1.zip",
    sha256="678b5b05861fcb93b98e22055f5117d4f58cf04370abba89dc1658b3813b2e73",
)

#: The list of events and their true categories.
CSV = UpstreamFile(
    name="events_list.csv",
    url=f"{_UPSTREAM_REPO}/339c9602304c056196ec092cc4ce423c3aee61c1/events_list.csv",
    sha256="2e41b2b3559a58da55495c3bb31f92b13597d17c22f6645d5b221275b4226b77",
)

UPSTREAM = (ARCHIVE, CSV)

#: Bytes read or copied at a time.
CHUNK = 1 << 20


def is_raw_pair(path: str | os.PathLike[str]) -> bool:
    """Tell whether a directory holds the raw upstream pair (archive and CSV)."""
    path = Path(path)
    return all((path / f.name).is_file() for f in UPSTREAM)


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Return the hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify_sources(source: str | os.PathLike[str]) -> None:
    """Check the raw pair in a directory against the pinned upstream sha256 sums.

    Parameters
    ----------
    source : path-like
        Directory holding ``centered-masked-rotated1.zip`` and ``events_list.csv``.

    Raises
    ------
    DataError
        Naming the first file that is missing or does not match.
    """
    source = Path(source)
    for upstream in UPSTREAM:
        file = source / upstream.name
        if not file.is_file():
            raise DataError(f"{file}: file not found.")
        actual = sha256_file(file)
        if actual != upstream.sha256:
            raise DataError(
                f"{file}: checksum mismatch (sha256 {actual}, expected {upstream.sha256}). "
                "The file is damaged or not the pinned upstream version; fetch it again."
            )


def sources_record(sums: dict[str, str]) -> dict:
    """Return the ``"sources"`` entry of a store index for the pair with these sha256 *sums*."""
    return {
        "archive": {"name": ARCHIVE.name, "sha256": sums[ARCHIVE.name]},
        "csv": {"name": CSV.name, "sha256": sums[CSV.name]},
    }
