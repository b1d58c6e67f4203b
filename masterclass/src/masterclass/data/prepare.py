"""Turn the raw upstream pair into a prepared event store.

:func:`prepare` accepts any pair of the right shape (the tests feed it tiny generated
data) and only checks the pinned sums when asked (``verify=True``,
``masterclass data prepare --verify``, or :func:`~masterclass.data.verify_sources`); it
always records the sums of what it read in ``events.json``. Everything is written into a
temporary sibling directory and renamed into place, so a failed run leaves nothing
half-written.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

from masterclass.data.disk import check_writable, make_dirs, progress_bar, remove_empty
from masterclass.data.errors import DataError
from masterclass.data.layout import (
    IMAGE_SHAPE,
    STORE_ARRAY,
    STORE_FORMAT,
    STORE_INDEX,
    index_json,
    is_store,
    store_sources,
)
from masterclass.data.upstream import (
    ARCHIVE,
    CSV,
    MEMBER_PREFIX,
    UPSTREAM,
    sha256_file,
    sources_record,
    verify_sources,
)
from masterclass.names import CATEGORIES

if TYPE_CHECKING:  # NumPy and Pillow load only while images are decoded.
    import numpy as np


def prepare(
    source: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    progress: bool = False,
    verify: bool = False,
    force: bool = False,
    _sums: dict[str, str] | None = None,
) -> Path:
    """Turn the raw upstream pair into an event store.

    The events keep the order of the CSV rows, so the same input bytes always give
    byte-identical ``events.npy`` and ``events.json``. Everything is written into a
    temporary sibling of `out_dir` and renamed into place at the end: on any failure
    nothing is left behind.

    Parameters
    ----------
    source : path-like
        Directory holding ``centered-masked-rotated1.zip`` and ``events_list.csv``.
    out_dir : path-like
        The store directory to create. If it already holds a store prepared from the
        same sources, it is kept as it is (unless `force`); another store, or an empty
        directory, is replaced; anything else is refused.
    progress : bool, default False
        Show a progress bar while decoding the images.
    verify : bool, default False
        Also check the pair against the pinned upstream sha256 sums. Off by default, so
        that other data (e.g. small test fixtures) can be prepared.
    force : bool, default False
        Rebuild even if `out_dir` already holds a store from the same sources.

    Returns
    -------
    pathlib.Path
        `out_dir`.

    Raises
    ------
    DataError
        Naming the offending file: a missing file, a corrupt or truncated archive, a PNG
        that is not 200×200 RGB, an unknown category, a CSV row without an image, an image
        without a CSV row, a checksum mismatch (with `verify`), or an `out_dir` that is
        not a store.
    """
    source = Path(source)
    out_dir = Path(out_dir)
    archive_file, csv_file = source / ARCHIVE.name, source / CSV.name
    for file in (archive_file, csv_file):
        if not file.is_file():
            raise DataError(f"{file}: file not found.")
    if verify:
        verify_sources(source)
    sums = _sums or {f.name: sha256_file(source / f.name) for f in UPSTREAM}
    sources = sources_record(sums)

    if out_dir.exists():
        if is_store(out_dir):
            if not force and store_sources(out_dir) == sources:
                return out_dir
        elif not out_dir.is_dir() or any(out_dir.iterdir()):
            raise DataError(
                f"{out_dir}: exists and is not an event store; refusing to overwrite it. "
                "Choose another --out directory."
            )

    rows = _read_csv(csv_file)
    check_writable(out_dir.parent, out_dir)
    try:
        created = make_dirs(out_dir.parent)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    except OSError as exc:
        raise DataError(f"{out_dir}: cannot create the store here ({exc}).") from exc
    try:
        _write_store(archive_file, csv_file, rows, sources, tmp, progress)
        _move_into_place(tmp, out_dir)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        remove_empty(created)
        if isinstance(exc, OSError):  # e.g. a full disk: still the organiser's to fix
            raise DataError(f"{out_dir}: cannot write the store ({exc}).") from exc
        raise
    return out_dir


def _read_csv(csv_file: Path) -> list[tuple[str, str]]:
    """Parse the event list into ``(filename, category)`` rows, in file order."""
    try:
        text = csv_file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{csv_file}: cannot read the event list ({exc}).") from exc
    rows: list[tuple[str, str]] = []
    seen: set[str] = set()
    # csv copes with CRLF and LF alike; the upstream file uses CRLF.
    for number, fields in enumerate(csv.reader(io.StringIO(text), delimiter=";"), start=1):
        if not fields or all(not f.strip() for f in fields):
            continue
        if len(fields) != 2:
            raise DataError(
                f"{csv_file}, line {number}: expected '<event>.png;<category>', "
                f"found {';'.join(fields)!r}."
            )
        name, category = fields[0].strip(), fields[1].strip()
        if category not in CATEGORIES:
            raise DataError(
                f"{csv_file}, line {number}: unknown category {category!r} for {name} "
                f"(expected one of {', '.join(CATEGORIES)})."
            )
        if not name.lower().endswith(".png") or "/" in name:
            raise DataError(f"{csv_file}, line {number}: {name!r} is not a PNG file name.")
        if name in seen:
            raise DataError(f"{csv_file}, line {number}: {name} is listed twice.")
        seen.add(name)
        rows.append((name, category))
    if not rows:
        raise DataError(f"{csv_file}: the event list is empty.")
    return rows


def _event_name(member: str) -> str | None:
    """Map an archive member to the CSV's file name, or None for non-image members."""
    base = member.rsplit("/", 1)[-1]
    # Skip directories and the resource-fork files macOS zips carry.
    if not base.lower().endswith(".png") or base.startswith("._") or "__MACOSX/" in member:
        return None
    return base.removeprefix(MEMBER_PREFIX)


def _write_store(
    archive_file: Path,
    csv_file: Path,
    rows: list[tuple[str, str]],
    sources: dict,
    tmp: Path,
    progress: bool,
) -> None:
    import numpy as np

    try:
        archive = zipfile.ZipFile(archive_file)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise DataError(f"{archive_file}: not a readable zip archive ({exc}).") from exc
    with archive:
        members: dict[str, str] = {}
        for member in archive.namelist():
            name = _event_name(member)
            if name is None:
                continue
            if name in members:
                raise DataError(f"{archive_file}: holds {name} twice ({members[name]}, {member}).")
            members[name] = member
        listed = {name for name, _ in rows}
        missing = [name for name, _ in rows if name not in members]
        if missing:
            raise DataError(
                f"{csv_file}: {len(missing)} row(s) without an image in {archive_file.name}, "
                f"first {missing[0]}."
            )
        extra = sorted(set(members) - listed)
        if extra:
            raise DataError(
                f"{archive_file}: {len(extra)} image(s) without a row in {csv_file.name}, "
                f"first {members[extra[0]]}."
            )

        images = np.lib.format.open_memmap(
            tmp / STORE_ARRAY, mode="w+", dtype=np.uint8, shape=(len(rows), *IMAGE_SHAPE)
        )
        with progress_bar(progress, "Preparing events", len(rows)) as advance:
            for i, (name, _) in enumerate(rows):
                images[i] = _decode(archive, archive_file, members[name])
                advance()
        images.flush()
        del images

    index = {
        "format": STORE_FORMAT,
        "sources": sources,
        "events": [{"filename": name, "category": category} for name, category in rows],
    }
    (tmp / STORE_INDEX).write_text(index_json(index), encoding="utf-8")


def _decode(archive: zipfile.ZipFile, archive_file: Path, member: str) -> np.ndarray:
    import numpy as np
    from PIL import Image  # Pillow is only needed while preparing

    where = f"{archive_file}: {member}"
    try:
        data = archive.read(member)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as exc:
        raise DataError(f"{where}: corrupt archive member ({exc}).") from exc
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format != "PNG":
                raise DataError(f"{where}: not a PNG image (found {image.format}).")
            if image.mode != "RGB" or image.size != IMAGE_SHAPE[1::-1]:
                raise DataError(
                    f"{where}: expected a 200×200 RGB PNG, found {image.size[0]}×"
                    f"{image.size[1]} {image.mode}."
                )
            pixels = np.asarray(image, dtype=np.uint8)
    except DataError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise DataError(f"{where}: cannot decode the image ({exc}).") from exc
    return pixels


def _move_into_place(tmp: Path, out_dir: Path) -> None:
    """Rename the finished store `tmp` to `out_dir`, replacing an old store or empty dir."""
    if not out_dir.exists():
        try:
            tmp.rename(out_dir)
            return
        except OSError:
            # Another process may have finished the same store first (e.g. two notebooks
            # opening a raw pair at once); theirs is as good as ours.
            if is_store(out_dir) and store_sources(out_dir) == store_sources(tmp):
                shutil.rmtree(tmp, ignore_errors=True)
                return
            raise
    old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".old", dir=out_dir.parent))
    old.rmdir()
    out_dir.rename(old)
    try:
        tmp.rename(out_dir)
    except BaseException:
        old.rename(out_dir)
        raise
    shutil.rmtree(old, ignore_errors=True)
