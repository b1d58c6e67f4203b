"""Tests of the event data pipeline: prepare, open_store, locate_data_dir and fetch.

Behaviour is tested on tiny generated pairs (``tiny_opal``); the physics counts and the
opening time on the real 622 events; downloads against a local HTTP server on 127.0.0.1
that serves the real pair (and, for the failure cases, wrong bytes).
"""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tiny_opal import EVENTS, member_name, png_bytes, write_pair

from masterclass import data
from masterclass.data import store as data_store

# --------------------------------------------------------------------------- prepare, tiny


def test_prepare_keeps_csv_order_pixels_and_names(tmp_path):
    raw = write_pair(tmp_path / "raw")
    store = data.open_store(data.prepare(raw, tmp_path / "store"))

    assert store.filenames == tuple(EVENTS)
    assert store.categories == tuple(category for category, _ in EVENTS.values())
    assert store.images.shape == (4, 200, 200, 3)
    assert store.images.dtype == np.uint8
    for i, (_, colour) in enumerate(EVENTS.values()):
        assert (store.images[i] == np.array(colour, dtype=np.uint8)).all()
    assert store.counts() == {"q": 1, "e": 1, "m": 1, "t": 1}


def test_store_images_are_read_only_memory_maps(tmp_path):
    store = data.open_store(data.prepare(write_pair(tmp_path / "raw"), tmp_path / "store"))
    assert isinstance(store.images, np.memmap)
    with pytest.raises(ValueError):
        store.images[0, 0, 0, 0] = 1


def test_store_index_format(tmp_path):
    raw = write_pair(tmp_path / "raw")
    index = json.loads((data.prepare(raw, tmp_path / "store") / "events.json").read_text())
    assert index["format"] == 1
    assert index["sources"]["archive"]["sha256"] == data.sha256_file(raw / data.ARCHIVE.name)
    assert index["sources"]["csv"]["sha256"] == data.sha256_file(raw / data.CSV.name)
    assert index["events"][0] == {"filename": "z1_1.png", "category": "q"}


def test_prepare_is_byte_stable(tmp_path):
    raw = write_pair(tmp_path / "raw")
    first = data.prepare(raw, tmp_path / "one")
    second = data.prepare(raw, tmp_path / "two")
    for name in ("events.npy", "events.json"):
        assert (first / name).read_bytes() == (second / name).read_bytes()


def test_prepare_accepts_lf_lines_and_blank_lines(tmp_path):
    raw = write_pair(tmp_path / "raw")
    lines = [f"{name};{category}" for name, (category, _) in EVENTS.items()]
    (raw / data.CSV.name).write_text("\n".join(lines) + "\n\n")
    assert len(data.open_store(data.prepare(raw, tmp_path / "store"))) == 4


def test_prepare_ignores_directories_and_macos_forks(tmp_path):
    raw = write_pair(tmp_path / "raw")
    with zipfile.ZipFile(raw / data.ARCHIVE.name, "a") as archive:
        archive.writestr("__MACOSX/centered-masked-rotated1/final/._x.png", b"junk")
    assert len(data.open_store(data.prepare(raw, tmp_path / "store"))) == 4


def test_up_to_date_store_is_kept_unless_forced(tmp_path):
    raw = write_pair(tmp_path / "raw")
    out = data.prepare(raw, tmp_path / "store")
    array = out / "events.npy"
    before = array.stat().st_mtime_ns
    time.sleep(0.01)
    data.prepare(raw, out)
    assert array.stat().st_mtime_ns == before
    data.prepare(raw, out, force=True)
    assert array.stat().st_mtime_ns != before


def test_store_from_other_sources_is_replaced(tmp_path):
    out = data.prepare(write_pair(tmp_path / "raw1"), tmp_path / "store")
    images = {"z9_9.png": png_bytes((1, 2, 3))}
    data.prepare(write_pair(tmp_path / "raw2", images, ["z9_9.png;m"]), out)
    store = data.open_store(out)
    assert store.filenames == ("z9_9.png",)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw1", "raw2", "store"]


def test_prepare_refuses_to_overwrite_other_directories(tmp_path):
    out = tmp_path / "precious"
    out.mkdir()
    (out / "thesis.tex").write_text("keep me")
    with pytest.raises(data.DataError, match=r"precious.*refusing"):
        data.prepare(write_pair(tmp_path / "raw"), out)
    assert (out / "thesis.tex").read_text() == "keep me"


@pytest.fixture
def read_only_dir(tmp_path):
    directory = tmp_path / "share"
    directory.mkdir()
    directory.chmod(0o555)
    yield directory
    directory.chmod(0o755)


def test_prepare_refuses_read_only_places_even_as_root(tmp_path, read_only_dir):
    raw = write_pair(tmp_path / "raw")
    for out in (read_only_dir / "store", read_only_dir / "a" / "store"):
        with pytest.raises(data.DataError, match="share is read-only"):
            data.prepare(raw, out)
    assert list(read_only_dir.iterdir()) == []


def test_fetch_refuses_read_only_places_even_as_root(opal_raw_dir, read_only_dir):
    with pytest.raises(data.DataError, match="share is read-only"):
        data.fetch(read_only_dir / "raw", source=opal_raw_dir)
    assert list(read_only_dir.iterdir()) == []


def test_prepare_verify_accepts_the_real_pair(opal_raw_dir, tmp_path):
    data.verify_sources(opal_raw_dir)


# --------------------------------------------------------------------------- prepare, bad data


def _truncate_archive(raw: Path) -> str:
    archive = raw / data.ARCHIVE.name
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    return data.ARCHIVE.name


def _corrupt_member(raw: Path) -> str:
    # Stored (uncompressed) members keep the PNG bytes verbatim, so flipping one byte
    # in the middle of the first image's data breaks its CRC, not the zip structure.
    images = {name: png_bytes(colour) for name, (_, colour) in EVENTS.items()}
    write_pair(raw, images, compression=zipfile.ZIP_STORED)
    archive = raw / data.ARCHIVE.name
    content = bytearray(archive.read_bytes())
    at = content.index(b"IDAT") + 20
    content[at] ^= 0xFF
    archive.write_bytes(bytes(content))
    return member_name("z1_1.png")


def _replace_image(name: str, content: bytes):
    def corrupt(raw: Path) -> str:
        images = {n: png_bytes(colour) for n, (_, colour) in EVENTS.items()}
        images[name] = content
        write_pair(raw, images)
        return member_name(name)

    return corrupt


def _rows(rows: list[str], names: str):
    def corrupt(raw: Path) -> str:
        write_pair(raw, rows=rows)
        return names

    return corrupt


def _missing(file_name: str):
    def corrupt(raw: Path) -> str:
        (raw / file_name).unlink()
        return file_name

    return corrupt


def _replace_file(file_name: str, content: bytes):
    def corrupt(raw: Path) -> str:
        (raw / file_name).write_bytes(content)
        return file_name

    return corrupt


def _extra_image(raw: Path) -> str:
    images = {name: png_bytes(colour) for name, (_, colour) in EVENTS.items()}
    images["z7_7.png"] = png_bytes()
    write_pair(raw, images)
    return member_name("z7_7.png")


_GOOD_ROWS = [f"{name};{category}" for name, (category, _) in EVENTS.items()]

BAD_DATA = {
    "missing archive": _missing(data.ARCHIVE.name),
    "missing csv": _missing(data.CSV.name),
    "truncated zip": _truncate_archive,
    "corrupt member": _corrupt_member,
    "not a zip": _replace_file(data.ARCHIVE.name, b"hello"),
    "csv not utf-8": _replace_file(data.CSV.name, "z1_1.png;q\r\n\xe4;e\r\n".encode("latin-1")),
    "wrong size png": _replace_image("e1_2.png", png_bytes(size=(100, 200))),
    "grayscale png": _replace_image("m1_3.png", png_bytes(mode="L")),
    "rgba png": _replace_image("m1_3.png", png_bytes(mode="RGBA")),
    "jpeg named png": _replace_image("t1_4.png", png_bytes(fmt="JPEG")),
    "not an image": _replace_image("t1_4.png", b"\x89PNG\r\n\x1a\n garbage"),
    "unknown category": _rows([*_GOOD_ROWS[:3], "t1_4.png;x"], "events_list.csv, line 4"),
    "row without image": _rows([*_GOOD_ROWS, "z8_8.png;q"], "z8_8.png"),
    "image without row": _rows(_GOOD_ROWS[:3], "t1_4.png"),
    "malformed row": _rows([*_GOOD_ROWS, "a;b;c"], "events_list.csv, line 5"),
    "duplicate row": _rows([*_GOOD_ROWS, _GOOD_ROWS[0]], "listed twice"),
    "image without row (extra)": _extra_image,
    "empty csv": _rows([], "events_list.csv: the event list is empty"),
}


@pytest.mark.parametrize("case", BAD_DATA, ids=list(BAD_DATA))
def test_bad_data_names_the_file_and_leaves_nothing(tmp_path, case):
    raw = write_pair(tmp_path / "raw")
    named = BAD_DATA[case](raw)
    # The output sits two levels below a fresh directory: those parents must go too.
    out = tmp_path / "out" / "deeper" / "store"

    with pytest.raises(data.DataError) as caught:
        data.prepare(raw, out)

    assert named in str(caught.value)
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"]


def test_bad_data_leaves_an_existing_parent_clean(tmp_path):
    raw = write_pair(tmp_path / "raw", rows=[*_GOOD_ROWS, "z8_8.png;q"])
    (tmp_path / "parent").mkdir()
    with pytest.raises(data.DataError):
        data.prepare(raw, tmp_path / "parent" / "store")
    assert list((tmp_path / "parent").iterdir()) == []


def test_failed_rebuild_keeps_the_old_store(tmp_path):
    out = data.prepare(write_pair(tmp_path / "good"), tmp_path / "store")
    bad = write_pair(tmp_path / "bad", rows=_GOOD_ROWS[:3])
    with pytest.raises(data.DataError):
        data.prepare(bad, out)
    assert len(data.open_store(out)) == 4


def test_checksum_mismatch_with_verify(tmp_path):
    raw = write_pair(tmp_path / "raw")
    with pytest.raises(data.DataError, match=r"centered-masked-rotated1\.zip: checksum mismatch"):
        data.prepare(raw, tmp_path / "store", verify=True)
    assert not (tmp_path / "store").exists()


# --------------------------------------------------------------------------- open_store, locate


def test_open_store_prepares_a_raw_pair_once_into_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MASTERCLASS_CACHE_DIR", str(tmp_path / "cache"))
    raw = write_pair(tmp_path / "raw")

    first = data.open_store(raw)
    assert first.path.parent == tmp_path / "cache" / "stores"
    assert len(first) == 4

    def no_second_prepare(*args, **kwargs):
        raise AssertionError("prepared again")

    monkeypatch.setattr(data_store, "prepare", no_second_prepare)
    assert data.open_store(raw).path == first.path


def test_open_store_prepares_again_when_the_raw_pair_changes(tmp_path, monkeypatch):
    monkeypatch.setenv("MASTERCLASS_CACHE_DIR", str(tmp_path / "cache"))
    raw = write_pair(tmp_path / "raw")
    first = data.open_store(raw)
    write_pair(raw, {"z9_9.png": png_bytes()}, ["z9_9.png;e"])
    second = data.open_store(raw)
    assert second.path != first.path
    assert second.categories == ("e",)


def test_open_store_without_path_reads_the_data_dir(tmp_path, monkeypatch):
    out = data.prepare(write_pair(tmp_path / "raw"), tmp_path / "store")
    monkeypatch.setenv("MASTERCLASS_DATA_DIR", str(out))
    assert data.open_store().path == out


def test_open_store_on_an_unrelated_directory(tmp_path):
    with pytest.raises(data.DataError, match=f"{tmp_path} holds neither"):
        data.open_store(tmp_path)


def test_open_store_rejects_a_damaged_store(tmp_path):
    out = data.prepare(write_pair(tmp_path / "raw"), tmp_path / "store")
    np.save(out / "events.npy", np.zeros((3, 200, 200, 3), np.uint8))
    with pytest.raises(data.DataError, match=r"events.npy: expected uint8"):
        data.open_store(out)
    (out / "events.json").write_text('{"format": 99}')
    with pytest.raises(data.DataError, match=r"events.json: not a format-1"):
        data.open_store(out)


def test_locate_data_dir_prefers_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MASTERCLASS_DATA_DIR", str(tmp_path))
    assert data.locate_data_dir() == tmp_path


def test_locate_data_dir_complains_about_a_missing_env_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("MASTERCLASS_DATA_DIR", str(tmp_path / "nope"))
    with pytest.raises(data.DataError, match=r"MASTERCLASS_DATA_DIR=.*nope is not a directory"):
        data.locate_data_dir()


def test_locate_data_dir_falls_back_to_the_baked_in_store(tmp_path, monkeypatch):
    monkeypatch.delenv("MASTERCLASS_DATA_DIR")
    monkeypatch.setattr(data_store, "DEFAULT_DATA_DIR", tmp_path)
    assert data.locate_data_dir() == tmp_path
    monkeypatch.setattr(data_store, "DEFAULT_DATA_DIR", tmp_path / "absent")
    with pytest.raises(data.DataError, match="masterclass data fetch --dest DIR"):
        data.locate_data_dir()


# --------------------------------------------------------------------------- real events


def test_real_events_counts_and_opening_time(event_store):
    assert len(event_store) == 622
    assert event_store.counts() == {"q": 539, "e": 23, "m": 32, "t": 28}
    assert event_store.images.shape == (622, 200, 200, 3)
    assert not any(name.startswith(data.MEMBER_PREFIX) for name in event_store.filenames)
    timings = []
    for _ in range(5):
        start = time.perf_counter()
        data.open_store(event_store.path)
        timings.append(time.perf_counter() - start)
    assert sorted(timings)[2] < 1.0


def test_real_events_follow_the_csv_and_the_pixels(event_store, opal_raw_dir):
    lines = (opal_raw_dir / data.CSV.name).read_bytes().decode().split("\r\n")
    rows = [tuple(line.split(";")) for line in lines if line]
    assert list(zip(event_store.filenames, event_store.categories, strict=True)) == rows
    with zipfile.ZipFile(opal_raw_dir / data.ARCHIVE.name) as archive:
        for i in (0, 311, 621):
            png = archive.read(member_name(event_store.filenames[i]))
            expected = np.asarray(Image.open(io.BytesIO(png)))
            assert np.array_equal(event_store.images[i], expected)


def test_real_events_store_is_reproducible(event_store, opal_raw_dir, tmp_path):
    again = data.prepare(opal_raw_dir, tmp_path / "again")
    for name in ("events.npy", "events.json"):
        assert data.sha256_file(again / name) == data.sha256_file(event_store.path / name)


def test_pinned_sums_match_the_real_files(opal_raw_dir):
    for upstream in data.UPSTREAM:
        assert data.sha256_file(opal_raw_dir / upstream.name) == upstream.sha256
    assert "/b3317a6a0ac765abe1b415eb6957f3f8952b5b7e/" in data.ARCHIVE.url
    assert "/339c9602304c056196ec092cc4ce423c3aee61c1/" in data.CSV.url


# --------------------------------------------------------------------------- fetch


class _Server:
    """A local HTTP server for fetch tests: serves ``files``, honours ``Range: bytes=N-``."""

    def __init__(self, files: dict[str, bytes]):
        self.files = dict(files)
        self.honour_range = True
        self.requests: list[tuple[str, str | None]] = []
        self.bytes_sent = 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append((self.path, self.headers.get("Range")))
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                start, status = 0, 200
                wanted = self.headers.get("Range")
                if wanted and server.honour_range:
                    start = int(wanted.removeprefix("bytes=").split("-")[0])
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    status = 206
                self.send_response(status)
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                self.wfile.write(body[start:])
                server.bytes_sent += len(body) - start

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/opal"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(opal_raw_dir):
    files = {f"/opal/{f.name}": (opal_raw_dir / f.name).read_bytes() for f in data.UPSTREAM}
    srv = _Server(files)
    yield srv
    srv.close()


def _assert_fetched(dest: Path):
    assert sorted(p.name for p in dest.iterdir()) == sorted(f.name for f in data.UPSTREAM)
    for upstream in data.UPSTREAM:
        assert data.sha256_file(dest / upstream.name) == upstream.sha256


def test_fetch_downloads_and_verifies(server, tmp_path):
    assert data.fetch(tmp_path / "raw", source=server.url, progress=True) == tmp_path / "raw"
    _assert_fetched(tmp_path / "raw")
    assert [r[1] for r in server.requests] == [None, None]


def test_fetch_resumes_a_partial_download(server, tmp_path):
    dest = tmp_path / "raw"
    dest.mkdir()
    archive = server.files[f"/opal/{data.ARCHIVE.name}"]
    (dest / f"{data.ARCHIVE.name}.part").write_bytes(archive[:1_000_000])

    data.fetch(dest, source=server.url)

    _assert_fetched(dest)
    assert (f"/opal/{data.ARCHIVE.name}", "bytes=1000000-") in server.requests
    assert server.bytes_sent == len(archive) - 1_000_000 + len(
        server.files["/opal/events_list.csv"]
    )


def test_fetch_restarts_when_the_server_ignores_range(server, tmp_path):
    server.honour_range = False
    dest = tmp_path / "raw"
    dest.mkdir()
    archive = server.files[f"/opal/{data.ARCHIVE.name}"]
    (dest / f"{data.ARCHIVE.name}.part").write_bytes(archive[:1000])
    data.fetch(dest, source=server.url)
    _assert_fetched(dest)


def test_fetch_recovers_from_a_stale_part(server, tmp_path):
    dest = tmp_path / "raw"
    dest.mkdir()
    (dest / f"{data.CSV.name}.part").write_bytes(b"not the csv at all")
    data.fetch(dest, source=server.url)
    _assert_fetched(dest)
    csv_requests = [r for r in server.requests if r[0].endswith(data.CSV.name)]
    assert csv_requests == [
        (f"/opal/{data.CSV.name}", "bytes=18-"),
        (f"/opal/{data.CSV.name}", None),
    ]


def test_fetch_checks_a_complete_part(server, tmp_path):
    dest = tmp_path / "raw"
    dest.mkdir()
    (dest / f"{data.CSV.name}.part").write_bytes(server.files[f"/opal/{data.CSV.name}"])
    data.fetch(dest, source=server.url)
    _assert_fetched(dest)


def test_fetch_rejects_wrong_bytes(server, tmp_path):
    server.files[f"/opal/{data.ARCHIVE.name}"] = b"PK\x03\x04 not the real archive"
    dest = tmp_path / "raw"
    with pytest.raises(data.DataError, match=r"centered-masked-rotated1\.zip.*checksum mismatch"):
        data.fetch(dest, source=server.url)
    assert not (dest / data.ARCHIVE.name).exists()
    assert not (dest / f"{data.ARCHIVE.name}.part").exists()


def test_fetch_skips_files_already_verified(server, tmp_path):
    data.fetch(tmp_path / "raw", source=server.url)
    server.requests.clear()
    data.fetch(tmp_path / "raw", source=server.url)
    assert server.requests == []


def test_fetch_reports_http_errors(server, tmp_path):
    with pytest.raises(data.DataError, match="HTTP 404"):
        data.fetch(tmp_path / "raw", source=server.url + "/missing")
    assert not (tmp_path / "raw").exists()


def test_fetch_reports_an_unreachable_server(server, tmp_path):
    url = server.url
    server.close()
    with pytest.raises(data.DataError, match=r"download failed.*--from DIR"):
        data.fetch(tmp_path / "raw", source=url)


def test_fetch_copies_from_a_local_directory(opal_raw_dir, tmp_path):
    data.fetch(tmp_path / "raw", source=opal_raw_dir)
    _assert_fetched(tmp_path / "raw")


def test_fetch_copies_a_single_local_file(opal_raw_dir, tmp_path):
    data.fetch(tmp_path / "raw", source=opal_raw_dir / data.CSV.name)
    assert [p.name for p in (tmp_path / "raw").iterdir()] == [data.CSV.name]


def test_fetch_rejects_a_wrong_local_copy(tmp_path):
    mirror = write_pair(tmp_path / "usb")
    with pytest.raises(data.DataError, match=r"usb.*checksum mismatch"):
        data.fetch(tmp_path / "raw", source=mirror)
    assert not (tmp_path / "raw").exists()


def test_fetch_names_a_missing_local_file(opal_raw_dir, tmp_path):
    usb = tmp_path / "usb"
    usb.mkdir()
    (usb / data.CSV.name).write_bytes((opal_raw_dir / data.CSV.name).read_bytes())
    with pytest.raises(data.DataError, match=r"usb/centered-masked-rotated1\.zip: file not found"):
        data.fetch(tmp_path / "raw", source=usb)


def test_sha256_file(tmp_path):
    file = tmp_path / "x"
    file.write_bytes(b"masterclass" * 200_000)
    assert data.sha256_file(file) == hashlib.sha256(file.read_bytes()).hexdigest()
