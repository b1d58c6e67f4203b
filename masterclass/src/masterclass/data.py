"""The event data pipeline: fetch the OPAL event displays, prepare the store, open it.

The upstream data is a pair of files (see ``../shared/opal-events/README.md``):

- ``centered-masked-rotated1.zip``: 622 PNG event displays, 200×200 RGB;
- ``events_list.csv``: one ``<event>.png;<category>`` row per image, ``;``-separated,
  CRLF line endings, no header.

:func:`prepare` turns that pair into a compact *store*, a directory with

- ``events.npy``: ``uint8`` array of shape ``(N, 200, 200, 3)`` in C order;
- ``events.json``: ``{"format": 1, "sources": {...}, "events": [{"filename", "category"}, ...]}``,
  in the same order as the array, which is the order of the CSV rows.

:func:`open_store` memory-maps that array, so opening takes milliseconds and every image
is held once, paged in lazily. It also accepts the raw pair, which it prepares once into
the cache (``MASTERCLASS_CACHE_DIR``, default ``~/.cache/masterclass``).

:func:`fetch` downloads the pair from the pinned upstream commits (or copies it from a
local directory for offline servers) and verifies the pinned sha256 sums.

Checksums: :func:`fetch` always verifies the pinned sums, because it only ever fetches
the pinned files. :func:`prepare` accepts any pair of the right shape (the tests feed it
tiny generated data) and only checks the pinned sums when asked (``verify=True``,
``masterclass data prepare --verify``, or :func:`verify_sources`); it always records the
sums of what it read in ``events.json``.

This module must not import TensorFlow: the hub and the CLI use it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import stat
import tempfile
import zipfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # NumPy and Pillow load only where images are read or written,
    import numpy as np  # so the hub image's CLI runs without them.

__all__ = [
    "ARCHIVE",
    "CATEGORIES",
    "CSV",
    "DEFAULT_DATA_DIR",
    "IMAGE_SHAPE",
    "UPSTREAM",
    "DataError",
    "EventStore",
    "UpstreamFile",
    "cache_dir",
    "fetch",
    "is_raw_pair",
    "is_store",
    "locate_data_dir",
    "open_store",
    "prepare",
    "sha256_file",
    "verify_sources",
]

#: The category letters, in the order the model's outputs use: hadrons, electrons,
#: muons, taus.
CATEGORIES = ("q", "e", "m", "t")

#: Shape of one event display.
IMAGE_SHAPE = (200, 200, 3)

#: Where the student image bakes in the prepared store.
DEFAULT_DATA_DIR = Path("/opt/masterclass/events")

#: Version of the store layout written by :func:`prepare`.
STORE_FORMAT = 1

STORE_ARRAY = "events.npy"
STORE_INDEX = "events.json"

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

_CHUNK = 1 << 20


class DataError(Exception):
    """The event data is missing, incomplete or corrupt.

    The message names the offending file and is meant for the organiser, in English.
    """


# eq=False: comparing stores field by field would compare whole image arrays.
@dataclass(frozen=True, eq=False)
class EventStore:
    """A prepared, memory-mapped event store.

    Attributes
    ----------
    path : pathlib.Path
        The store directory.
    images : numpy.ndarray
        ``uint8`` array of shape ``(N, 200, 200, 3)``, read-only and memory-mapped.
    filenames : tuple of str
        The event file names as the CSV spells them, e.g. ``"z5293_10847.png"``.
    categories : tuple of str
        The true category of each event, each one of :data:`CATEGORIES`.
    """

    path: Path
    images: np.ndarray
    filenames: tuple[str, ...]
    categories: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.filenames)

    def counts(self) -> dict[str, int]:
        """Count the events per category.

        Returns
        -------
        dict of str to int
            One entry per letter of :data:`CATEGORIES`, in that order (zeros included).
        """
        return {c: self.categories.count(c) for c in CATEGORIES}


# --------------------------------------------------------------------------- locating


def cache_dir() -> Path:
    """Return the cache directory for downloads and stores prepared from raw data.

    Returns
    -------
    pathlib.Path
        ``MASTERCLASS_CACHE_DIR`` if set, else ``~/.cache/masterclass``. It may not exist yet.
    """
    env = os.environ.get("MASTERCLASS_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "masterclass"


def locate_data_dir() -> Path:
    """Find the directory the event data is read from.

    Returns
    -------
    pathlib.Path
        ``MASTERCLASS_DATA_DIR`` if set, else ``/opt/masterclass/events`` (the store baked
        into the student image). The directory holds a store or the raw upstream pair.

    Raises
    ------
    DataError
        If ``MASTERCLASS_DATA_DIR`` points to a missing directory, or it is unset and the
        baked-in store does not exist either.
    """
    env = os.environ.get("MASTERCLASS_DATA_DIR")
    if env:
        path = Path(env).expanduser()
        if not path.is_dir():
            raise DataError(
                f"MASTERCLASS_DATA_DIR={env} is not a directory. Point it at a prepared "
                f"store or at a directory holding {ARCHIVE.name} and {CSV.name} "
                f"(get them with `masterclass data fetch --dest {env}`)."
            )
        return path
    if DEFAULT_DATA_DIR.is_dir():
        return DEFAULT_DATA_DIR
    raise DataError(
        f"No event data found: MASTERCLASS_DATA_DIR is not set and {DEFAULT_DATA_DIR} does "
        "not exist. Run `masterclass data fetch --dest DIR` and then "
        "`export MASTERCLASS_DATA_DIR=DIR`."
    )


def is_store(path: str | os.PathLike[str]) -> bool:
    """Tell whether a directory looks like a prepared store (both store files present)."""
    path = Path(path)
    return (path / STORE_ARRAY).is_file() and (path / STORE_INDEX).is_file()


def is_raw_pair(path: str | os.PathLike[str]) -> bool:
    """Tell whether a directory holds the raw upstream pair (archive and CSV)."""
    path = Path(path)
    return all((path / f.name).is_file() for f in UPSTREAM)


# --------------------------------------------------------------------------- opening


def open_store(path: str | os.PathLike[str] | None = None, *, progress: bool = False) -> EventStore:
    """Open the event store, preparing it from the raw pair on first use.

    Parameters
    ----------
    path : path-like, optional
        A prepared store, or a directory with the raw upstream pair. Defaults to
        :func:`locate_data_dir`. A raw pair is prepared once into
        ``cache_dir() / "stores" / <sources' sha256>`` and that store is reused afterwards.
    progress : bool, default False
        Show a progress bar if the raw pair has to be prepared.

    Returns
    -------
    EventStore
        The memory-mapped store.

    Raises
    ------
    DataError
        If the directory holds neither a store nor the raw pair, or the data is corrupt.

    Examples
    --------
    >>> store = open_store()  # doctest: +SKIP
    >>> store.images.shape, store.counts()  # doctest: +SKIP
    ((622, 200, 200, 3), {'q': 539, 'e': 23, 'm': 32, 't': 28})
    """
    path = locate_data_dir() if path is None else Path(path)
    if is_store(path):
        return _load_store(path)
    if is_raw_pair(path):
        sums = {f.name: sha256_file(path / f.name) for f in UPSTREAM}
        key = hashlib.sha256(
            "".join(f"{sums[f.name]}  {f.name}\n" for f in UPSTREAM).encode()
        ).hexdigest()[:24]
        target = cache_dir() / "stores" / key
        if not (is_store(target) and _store_sources(target) == _sources_record(sums)):
            prepare(path, target, progress=progress, _sums=sums)
        return _load_store(target)
    if not path.is_dir():
        raise DataError(f"{path}: no such directory.")
    raise DataError(
        f"{path} holds neither a prepared store ({STORE_ARRAY} and {STORE_INDEX}) nor the "
        f"raw pair ({ARCHIVE.name} and {CSV.name}). Fetch the data with "
        f"`masterclass data fetch --dest {path}`."
    )


def _read_index(path: Path) -> dict:
    index_file = path / STORE_INDEX
    try:
        index = json.loads(index_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{index_file}: cannot read the store index ({exc}).") from exc
    if not isinstance(index, dict) or index.get("format") != STORE_FORMAT:
        raise DataError(
            f"{index_file}: not a format-{STORE_FORMAT} store index; prepare it again with "
            "`masterclass data prepare`."
        )
    return index


def _store_sources(path: Path) -> dict | None:
    try:
        return _read_index(path).get("sources")
    except DataError:
        return None


def _load_store(path: Path) -> EventStore:
    import numpy as np

    index = _read_index(path)
    index_file = path / STORE_INDEX
    try:
        events = index["events"]
        filenames = tuple(str(e["filename"]) for e in events)
        categories = tuple(str(e["category"]) for e in events)
    except (KeyError, TypeError) as exc:
        raise DataError(f"{index_file}: malformed event list ({exc!r}).") from exc
    unknown = sorted(set(categories) - set(CATEGORIES))
    if unknown:
        raise DataError(f"{index_file}: unknown categories {unknown}.")
    array_file = path / STORE_ARRAY
    try:
        images = np.load(array_file, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"{array_file}: cannot open the image array ({exc}).") from exc
    expected = (len(filenames), *IMAGE_SHAPE)
    if images.dtype != np.uint8 or images.shape != expected:
        raise DataError(
            f"{array_file}: expected uint8 {expected}, found {images.dtype} {images.shape}."
        )
    return EventStore(path=path, images=images, filenames=filenames, categories=categories)


# --------------------------------------------------------------------------- checksums


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Return the hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
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


def _sources_record(sums: dict[str, str]) -> dict:
    return {
        "archive": {"name": ARCHIVE.name, "sha256": sums[ARCHIVE.name]},
        "csv": {"name": CSV.name, "sha256": sums[CSV.name]},
    }


# --------------------------------------------------------------------------- preparing


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
    sources = _sources_record(sums)

    if out_dir.exists():
        if is_store(out_dir):
            if not force and _store_sources(out_dir) == sources:
                return out_dir
        elif not out_dir.is_dir() or any(out_dir.iterdir()):
            raise DataError(
                f"{out_dir}: exists and is not an event store; refusing to overwrite it. "
                "Choose another --out directory."
            )

    rows = _read_csv(csv_file)
    _check_writable(out_dir.parent, out_dir)
    try:
        created = _make_dirs(out_dir.parent)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    except OSError as exc:
        raise DataError(f"{out_dir}: cannot create the store here ({exc}).") from exc
    try:
        _write_store(archive_file, csv_file, rows, sources, tmp, progress)
        _move_into_place(tmp, out_dir)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        _remove_empty(created)
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
        with _progress_bar(progress, "Preparing events", len(rows)) as advance:
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
    (tmp / STORE_INDEX).write_text(_index_json(index), encoding="utf-8")


def _index_json(index: dict) -> str:
    """Serialise the store index with one event per line: small, diffable, plain JSON."""
    head = {k: v for k, v in index.items() if k != "events"}
    lines = [json.dumps(e, ensure_ascii=False) for e in index["events"]]
    body = json.dumps(head, indent=1, ensure_ascii=False)[:-2]  # drop the closing "\n}"
    return body + ',\n "events": [\n  ' + ",\n  ".join(lines) + "\n ]\n}\n"


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


def _check_writable(directory: Path, target: Path) -> None:
    """Refuse to write `target` below `directory` if that is marked read-only, even as root.

    Root ignores permission bits, so a plain write would succeed inside a read-only
    data share (such as ``../shared/opal-events``); the bits state the owner's intent.
    """
    existing = next((p for p in (directory, *directory.parents) if p.exists()), None)
    if existing is None:
        return
    if not existing.is_dir():
        raise DataError(f"{target}: {existing} is not a directory.")
    if stat.S_IMODE(existing.stat().st_mode) & 0o222 == 0 or not os.access(existing, os.W_OK):
        raise DataError(
            f"{target}: {existing} is read-only; choose a directory you may write to "
            "(e.g. under ~/.cache/masterclass or ./data)."
        )


def _make_dirs(directory: Path) -> list[Path]:
    """Create `directory` with its parents; return the ones created, deepest first."""
    created = []
    for parent in (directory, *directory.parents):
        if parent.exists():
            break
        created.append(parent)
    directory.mkdir(parents=True, exist_ok=True)
    return created


def _remove_empty(created: list[Path]) -> None:
    """Undo :func:`_make_dirs` after a failure, as far as the directories are empty."""
    for directory in created:
        try:
            directory.rmdir()
        except OSError:
            break


def _move_into_place(tmp: Path, out_dir: Path) -> None:
    """Rename the finished store `tmp` to `out_dir`, replacing an old store or empty dir."""
    if not out_dir.exists():
        try:
            tmp.rename(out_dir)
            return
        except OSError:
            # Another process may have finished the same store first (e.g. two notebooks
            # opening a raw pair at once); theirs is as good as ours.
            if is_store(out_dir) and _store_sources(out_dir) == _store_sources(tmp):
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


@contextmanager
def _progress_bar(enabled: bool, description: str, total: int | None):
    """Yield an ``advance(n=1)`` callable, backed by a rich progress bar if enabled."""
    if not enabled:
        yield lambda n=1: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    is_bytes = description.startswith(("Downloading", "Copying"))
    columns = [DownloadColumn(), TransferSpeedColumn()] if is_bytes else [MofNCompleteColumn()]
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        *columns,
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
    ) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n=1: bar.advance(task, n)


# --------------------------------------------------------------------------- fetching


def fetch(
    dest: str | os.PathLike[str],
    *,
    source: str | os.PathLike[str] | None = None,
    progress: bool = False,
) -> Path:
    """Download (or copy) the raw upstream pair and verify the pinned sha256 sums.

    A download goes into ``<name>.part`` and resumes from there (HTTP Range) if it was
    interrupted; only a file that matches its pinned sum is renamed to its final name.
    A file already in `dest` with the right sum is not fetched again. A ``.part`` that
    fails the check is deleted, so the next run starts afresh.

    Parameters
    ----------
    dest : path-like
        Directory to put ``centered-masked-rotated1.zip`` and ``events_list.csv`` in;
        created if missing.
    source : str or path-like, optional
        Where to get the files:

        - None: the pinned upstream URLs (GitHub, at fixed commits);
        - an ``http://`` or ``https://`` base URL: ``<base>/<file name>`` for both files
          (a mirror);
        - a local directory holding both files (offline servers, USB sticks);
        - a local file: just that one file, recognised by its name or its checksum.
    progress : bool, default False
        Show a progress bar per file.

    Returns
    -------
    pathlib.Path
        `dest`.

    Raises
    ------
    DataError
        If a file cannot be downloaded or read, or does not match its pinned sum.
    """
    dest = Path(dest)
    jobs: list[tuple[UpstreamFile, str | Path]]
    if source is None:
        jobs = [(f, f.url) for f in UPSTREAM]
    elif str(source).startswith(("http://", "https://")):
        base = str(source).rstrip("/")
        jobs = [(f, f"{base}/{f.name}") for f in UPSTREAM]
    else:
        local = Path(source).expanduser()
        if local.is_dir():
            jobs = [(f, local / f.name) for f in UPSTREAM]
        elif local.is_file():
            jobs = [(_identify(local), local)]
        else:
            raise DataError(f"{local}: no such file or directory.")
    _check_writable(dest, dest)
    try:
        created = _make_dirs(dest)
    except OSError as exc:
        raise DataError(f"{dest}: cannot create the directory ({exc}).") from exc
    client = None
    try:
        for upstream, origin in jobs:
            final = dest / upstream.name
            if final.is_file() and sha256_file(final) == upstream.sha256:
                continue
            part = dest / f"{upstream.name}.part"
            if isinstance(origin, Path):
                _copy(origin, part, progress)
                _check_part(part, upstream, str(origin))
            else:
                if client is None:
                    import httpx

                    client = httpx.Client(follow_redirects=True, timeout=60.0)
                _download(client, origin, part, upstream, progress)
            os.replace(part, final)
    except BaseException:
        # A .part kept for resuming keeps `dest`; an empty `dest` this call made goes.
        _remove_empty(created)
        raise
    finally:
        if client is not None:
            client.close()
    return dest


def _identify(file: Path) -> UpstreamFile:
    for upstream in UPSTREAM:
        if file.name == upstream.name:
            return upstream
    actual = sha256_file(file)
    for upstream in UPSTREAM:
        if actual == upstream.sha256:
            return upstream
    raise DataError(
        f"{file}: neither {ARCHIVE.name} nor {CSV.name} (name and sha256 match neither)."
    )


def _check_part(part: Path, upstream: UpstreamFile, origin: str) -> None:
    actual = sha256_file(part)
    if actual != upstream.sha256:
        part.unlink(missing_ok=True)
        raise DataError(
            f"{origin}: checksum mismatch for {upstream.name} (sha256 {actual}, expected "
            f"{upstream.sha256}). Nothing was kept; check the source and fetch again."
        )


def _copy(origin: Path, part: Path, progress: bool) -> None:
    if not origin.is_file():
        raise DataError(f"{origin}: file not found.")
    try:
        with (
            open(origin, "rb") as src,
            open(part, "wb") as dst,
            _progress_bar(progress, f"Copying {origin.name}", origin.stat().st_size) as advance,
        ):
            while chunk := src.read(_CHUNK):
                dst.write(chunk)
                advance(len(chunk))
    except OSError as exc:
        part.unlink(missing_ok=True)
        raise DataError(f"{origin}: cannot copy to {part.parent} ({exc}).") from exc


def _download(client, url: str, part: Path, upstream: UpstreamFile, progress: bool) -> None:
    import httpx

    # One retry from scratch: a .part left by an older, different download may be what
    # spoils the checksum, not the server.
    for attempt in range(2):
        offset = part.stat().st_size if part.exists() else 0
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        try:
            with client.stream("GET", url, headers=headers) as response:
                if response.status_code == 416 and offset:
                    pass  # the .part already holds the whole file (or more); check it below
                elif response.status_code in (200, 206):
                    resumed = response.status_code == 206 and response.headers.get(
                        "content-range", ""
                    ).startswith(f"bytes {offset}-")
                    if not resumed:
                        offset = 0  # the server ignored the range: start over
                    length = response.headers.get("content-length")
                    total = offset + int(length) if length and length.isdigit() else None
                    with (
                        open(part, "ab" if resumed else "wb") as fh,
                        _progress_bar(progress, f"Downloading {upstream.name}", total) as advance,
                    ):
                        advance(offset)
                        for chunk in response.iter_bytes(_CHUNK):
                            fh.write(chunk)
                            advance(len(chunk))
                else:
                    raise DataError(
                        f"{url}: download failed with HTTP {response.status_code}. "
                        "Offline? Copy the files by hand and use `--from DIR`."
                    )
        except httpx.HTTPError as exc:
            kept = f"; the partial download is kept in {part}, run again to resume"
            raise DataError(
                f"{url}: download failed ({exc or type(exc).__name__})"
                f"{kept if part.exists() else ''}. Offline? Use `--from DIR` with a local copy."
            ) from exc
        except OSError as exc:
            raise DataError(f"{part}: cannot write the download ({exc}).") from exc
        try:
            _check_part(part, upstream, url)
            return
        except DataError:
            if attempt or not offset:
                raise
