"""The event data pipeline: fetch the OPAL event displays, prepare the store, open it.

The upstream pair (:mod:`~masterclass.data.upstream`) is fetched and checked against
pinned sha256 sums (:mod:`~masterclass.data.fetch`), turned into a compact store
(:mod:`~masterclass.data.prepare`, layout in :mod:`~masterclass.data.layout`), and opened
memory-mapped (:mod:`~masterclass.data.store`). Every failure is a :class:`DataError`
whose message names the offending file.

This package must not import TensorFlow: the hub and the CLI use it. NumPy, Pillow and
httpx load only inside the functions that need them.

Examples
--------
>>> from masterclass import data
>>> data.CATEGORIES, data.IMAGE_SHAPE
(('q', 'e', 'm', 't'), (200, 200, 3))
>>> data.ARCHIVE.name, data.CSV.name
('centered-masked-rotated1.zip', 'events_list.csv')
"""

from masterclass.data.errors import DataError
from masterclass.data.fetch import fetch
from masterclass.data.layout import IMAGE_SHAPE, is_store
from masterclass.data.prepare import prepare
from masterclass.data.store import (
    DEFAULT_DATA_DIR,
    EventStore,
    cache_dir,
    locate_data_dir,
    open_store,
)
from masterclass.data.upstream import (
    ARCHIVE,
    CSV,
    MEMBER_PREFIX,
    UPSTREAM,
    UpstreamFile,
    is_raw_pair,
    sha256_file,
    verify_sources,
)
from masterclass.names import CATEGORIES  # every side may import names

__all__ = [
    "ARCHIVE",
    "CATEGORIES",
    "CSV",
    "DEFAULT_DATA_DIR",
    "IMAGE_SHAPE",
    "MEMBER_PREFIX",
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
