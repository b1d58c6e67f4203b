"""Locate and open the prepared event store (memory-mapped), preparing a raw pair on first use.

:func:`open_store` memory-maps the image array, so opening takes milliseconds and every
image is held once, paged in lazily. It also accepts the raw pair, which it prepares
once into the cache (``MASTERCLASS_CACHE_DIR``, default ``~/.cache/masterclass``).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from masterclass.data.errors import DataError
from masterclass.data.layout import (
    IMAGE_SHAPE,
    STORE_ARRAY,
    STORE_INDEX,
    is_store,
    read_index,
    store_sources,
)
from masterclass.data.prepare import prepare
from masterclass.data.upstream import (
    ARCHIVE,
    CSV,
    UPSTREAM,
    is_raw_pair,
    sha256_file,
    sources_record,
)
from masterclass.names import CATEGORIES

if TYPE_CHECKING:  # NumPy loads only where images are read, so the hub image's CLI runs without it.
    import numpy as np

#: Where the student image bakes in the prepared store.
DEFAULT_DATA_DIR = Path("/opt/masterclass/events")


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
        if not (is_store(target) and store_sources(target) == sources_record(sums)):
            prepare(path, target, progress=progress, _sums=sums)
        return _load_store(target)
    if not path.is_dir():
        raise DataError(f"{path}: no such directory.")
    raise DataError(
        f"{path} holds neither a prepared store ({STORE_ARRAY} and {STORE_INDEX}) nor the "
        f"raw pair ({ARCHIVE.name} and {CSV.name}). Fetch the data with "
        f"`masterclass data fetch --dest {path}`."
    )


def _load_store(path: Path) -> EventStore:
    import numpy as np

    index = read_index(path)
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
