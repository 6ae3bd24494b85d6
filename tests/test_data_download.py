"""Download against a local server imitating Yandex Disk's public-resources API (never the real network)."""

from __future__ import annotations

import hashlib
import io
import json
import socket
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest
import requests

from minerals.data import download
from minerals.data.download import DownloadError, download_release, extract

KEY = "https://disk.yandex.ru/d/test"


def _zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _tar_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class FakeDisk:
    """Files served under /files/<path>; `cut` names files whose first transfer stops half-way."""

    def __init__(self, files: dict[str, bytes]):
        self.files = files
        self.cut: set[str] = set()
        self.sha_override: dict[str, str] = {}
        self.requests: list[tuple[str, str | None]] = []


@pytest.fixture
def disk():
    state = FakeDisk({})

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _json(self, obj, code=200):
            body = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            url = urlparse(self.path)
            q = {k: v[0] for k, v in parse_qs(url.query).items()}
            state.requests.append((url.path, self.headers.get("Range")))
            if url.path == "/v1/disk/public/resources":
                if q.get("public_key") != KEY:
                    return self._json({"error": "DiskNotFoundError"}, 404)
                folder = q["path"].rstrip("/")
                items, dirs = [], set()
                for name, data in state.files.items():
                    parent, _, leaf = ("/" + name).rpartition("/")
                    if parent == folder:
                        sha = state.sha_override.get(name, hashlib.sha256(data).hexdigest())
                        items.append({"type": "file", "name": leaf, "path": "/" + name, "size": len(data),
                                      "sha256": sha})
                    elif parent.startswith(folder + "/"):
                        dirs.add(folder + "/" + parent[len(folder) + 1:].split("/")[0])
                items += [{"type": "dir", "name": d.rsplit("/", 1)[1], "path": d} for d in sorted(dirs)]
                offset, limit = int(q.get("offset", 0)), int(q.get("limit", 20))
                return self._json({"type": "dir", "path": q["path"],
                                   "_embedded": {"items": items[offset:offset + limit], "total": len(items)}})
            if url.path == "/v1/disk/public/resources/download":
                port = self.server.server_address[1]
                return self._json({"href": f"http://127.0.0.1:{port}/files{q['path']}", "method": "GET"})
            if url.path.startswith("/files/"):
                name = url.path[len("/files/"):]
                data = state.files[name]
                start = int(self.headers["Range"].split("=")[1].rstrip("-")) if self.headers.get("Range") else 0
                self.send_response(206 if start else 200)
                self.send_header("Content-Length", str(len(data) - start))
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.end_headers()
                if name in state.cut:
                    state.cut.discard(name)
                    self.wfile.write(data[start:start + (len(data) - start) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(data[start:])
                return
            self._json({"error": "not found"}, 404)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.api = f"http://127.0.0.1:{server.server_address[1]}/v1/disk"
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def session():
    s = requests.Session()
    s.trust_env = False  # never route 127.0.0.1 through a proxy from the environment
    return s


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    monkeypatch.setattr(download.time, "sleep", lambda s: None)


def _release_files():
    return {
        "minerals_full.csv": b"id,path,en_name\n1,1_syst/a.jpg,Quartz\n",
        "mineral_images.zip": _zip_bytes({"mineral_images/1_syst/a.jpg": b"\xff\xd8" + b"x" * 5000}),
        "segm.tar": _tar_bytes({"segm/img/S.JPG": b"img", "segm/mask/S.JPG": b"mask"}),
        "extra/notes.txt": b"nested folder",
    }


def test_download_extract_and_manifest(tmp_path, disk, session):
    disk.files = _release_files()
    manifest = download_release(tmp_path, KEY, disk.api, progress=False, session=session)
    assert (tmp_path / "minerals_full.csv").read_bytes() == disk.files["minerals_full.csv"]
    assert (tmp_path / "mineral_images" / "1_syst" / "a.jpg").is_file()
    assert (tmp_path / "segm" / "mask" / "S.JPG").read_bytes() == b"mask"
    assert (tmp_path / "extra" / "notes.txt").is_file()
    saved = json.loads((tmp_path / "download_manifest.json").read_text())
    assert saved == json.loads(json.dumps(manifest))
    assert saved["files"]["segm.tar"]["sha256"] == hashlib.sha256(disk.files["segm.tar"]).hexdigest()
    assert saved["extracted"]["mineral_images.zip"] == ["mineral_images"]
    assert not list(tmp_path.rglob("*.part")) and not list(tmp_path.glob(".*extracting"))
    # a rerun re-hashes and downloads nothing
    disk.requests.clear()
    download_release(tmp_path, KEY, disk.api, progress=False, session=session)
    assert not [p for p, _ in disk.requests if p.startswith("/files/")]


def test_cut_mid_file_resumes_with_range(tmp_path, disk, session):
    disk.files = {"mineral_images.zip": _zip_bytes({"mineral_images/x.jpg": bytes(range(256)) * 4000})}
    disk.cut = {"mineral_images.zip"}
    download_release(tmp_path, KEY, disk.api, progress=False, session=session)
    ranges = [r for p, r in disk.requests if p.startswith("/files/")]
    assert ranges[0] is None and ranges[1] is not None and ranges[1].startswith("bytes=") and ranges[1] != "bytes=0-"
    assert (tmp_path / "mineral_images.zip").read_bytes() == disk.files["mineral_images.zip"]


def test_cut_without_retries_leaves_only_part_file(tmp_path, disk, session):
    disk.files = {"segm.tar": _tar_bytes({"segm/img/a.jpg": b"y" * 20000})}
    disk.cut = {"segm.tar"}
    with pytest.raises(DownloadError, match=r"segm.tar: still incomplete after 0 retries.*resume"):
        download_release(tmp_path, KEY, disk.api, retries=0, progress=False, session=session)
    assert not (tmp_path / "segm.tar").exists() and (tmp_path / "segm.tar.part").exists()
    download_release(tmp_path, KEY, disk.api, progress=False, session=session)  # the next run resumes
    assert (tmp_path / "segm" / "img" / "a.jpg").stat().st_size == 20000


def test_checksum_mismatch_removes_file(tmp_path, disk, session):
    disk.files = {"minerals_full.csv": b"id\n1\n"}
    disk.sha_override = {"minerals_full.csv": "0" * 64}
    with pytest.raises(DownloadError, match="minerals_full.csv: sha256 .* does not match the published"):
        download_release(tmp_path, KEY, disk.api, progress=False, session=session)
    assert not (tmp_path / "minerals_full.csv").exists() and not list(tmp_path.glob("*.part"))


def test_changed_file_after_download_is_reported(tmp_path, disk, session):
    disk.files = {"minerals_full.csv": b"id\n1\n"}
    download_release(tmp_path, KEY, disk.api, progress=False, session=session)
    (tmp_path / "minerals_full.csv").write_bytes(b"id\n2\n")
    disk.sha_override = {"minerals_full.csv": ""}  # the API gives no checksum: the manifest's one decides
    with pytest.raises(DownloadError, match="changed since it was downloaded"):
        download_release(tmp_path, KEY, disk.api, progress=False, session=session)


def test_offline_fails_fast_naming_kaggle(tmp_path, session):
    with socket.socket() as sock:  # a port with nothing listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(DownloadError, match=r"cannot reach .*Kaggle mirror sergeynesteruk/minerals"):
        download_release(tmp_path, KEY, f"http://127.0.0.1:{port}/v1/disk", progress=False, session=session)


def test_unknown_public_key(tmp_path, disk, session):
    with pytest.raises(DownloadError, match="HTTP 404"):
        download_release(tmp_path, "https://disk.yandex.ru/d/other", disk.api, progress=False, session=session)


@pytest.mark.parametrize("member", ["../evil.txt", "/abs/evil.txt", "segm/../../evil.txt"])
def test_tar_with_escaping_members_refused(tmp_path, member):
    archive = tmp_path / "segm.tar"
    archive.write_bytes(_tar_bytes({"segm/ok.txt": b"ok", member: b"evil"}))
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(DownloadError, match="segm.tar: .*(unsafe member refused|outside the release folder)"):
        extract(archive, root)
    assert list(root.iterdir()) == [] and not (tmp_path / "evil.txt").exists()


def test_tar_link_outside_refused(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("segm/link")
        info.type, info.linkname = tarfile.SYMTYPE, "../../../etc/passwd"
        tf.addfile(info)
    (tmp_path / "segm.tar").write_bytes(buf.getvalue())
    with pytest.raises(DownloadError, match="unsafe member"):
        extract(tmp_path / "segm.tar", tmp_path)


@pytest.mark.parametrize("member", ["../evil.txt", "/abs/evil.txt", "a/../../evil.txt", "C:/evil.txt"])
def test_zip_with_escaping_members_refused(tmp_path, member):
    (tmp_path / "mineral_images.zip").write_bytes(_zip_bytes({"mineral_images/a.jpg": b"a", member: b"evil"}))
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(DownloadError, match="would be written outside the release folder"):
        extract(tmp_path / "mineral_images.zip", root)
    assert list(root.iterdir()) == []


def test_zip_symlink_outside_refused(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        info = zipfile.ZipInfo("mineral_images/link")
        info.external_attr = (0o120777 << 16)
        zf.writestr(info, "../../outside")
    (tmp_path / "mineral_images.zip").write_bytes(buf.getvalue())
    with pytest.raises(DownloadError, match="points outside the release folder"):
        extract(tmp_path / "mineral_images.zip", tmp_path)


def test_zip_without_top_folder_goes_into_its_own_folder(tmp_path):
    (tmp_path / "mineral_images.zip").write_bytes(_zip_bytes({"1_syst/a.jpg": b"a", "FMM_1.JPG": b"b"}))
    assert extract(tmp_path / "mineral_images.zip", tmp_path) == ["mineral_images/1_syst", "mineral_images/FMM_1.JPG"]
    assert (tmp_path / "mineral_images" / "1_syst" / "a.jpg").is_file()


def test_corrupt_archive(tmp_path):
    (tmp_path / "mineral_images.zip").write_bytes(b"PK not really")
    with pytest.raises(DownloadError, match="not a valid zip"):
        extract(tmp_path / "mineral_images.zip", tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mineral_images.zip"]
