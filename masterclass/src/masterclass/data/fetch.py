"""Download (or copy) the raw upstream pair and verify the pinned sha256 sums.

:func:`fetch` always verifies the pinned sums, because it only ever fetches the pinned
files.
"""

from __future__ import annotations

import os
from pathlib import Path

from masterclass.data.disk import check_writable, make_dirs, progress_bar, remove_empty
from masterclass.data.errors import DataError
from masterclass.data.upstream import ARCHIVE, CHUNK, CSV, UPSTREAM, UpstreamFile, sha256_file


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
    check_writable(dest, dest)
    try:
        created = make_dirs(dest)
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
        remove_empty(created)
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
            progress_bar(progress, f"Copying {origin.name}", origin.stat().st_size) as advance,
        ):
            while chunk := src.read(CHUNK):
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
                        progress_bar(progress, f"Downloading {upstream.name}", total) as advance,
                    ):
                        advance(offset)
                        for chunk in response.iter_bytes(CHUNK):
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
