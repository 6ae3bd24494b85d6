"""Fetch the original release from its public Yandex Disk folder, resumably and verifiably.

Yandex Disk's public-resources API lists the folder (`GET {api}/public/resources?public_key=..&path=..`)
and resolves each file's download link (`GET {api}/public/resources/download?...` -> `{"href": ..}`).
Each file streams into `<name>.part` (resumed with an HTTP Range request after a cut), is checked
against its size and the API's sha256, and only then renamed into place, so a partial file never
looks complete. `download_manifest.json` records size and sha256 of every file; a rerun re-hashes
what is there and skips what matches. Archives (`.zip`, `.tar`) are extracted safely into a hidden
temporary folder whose entries are then renamed into place.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import shutil
import stat
import tarfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from collections.abc import Callable

import requests
from tqdm import tqdm

from minerals.results import write_json

PUBLIC_KEY = "https://disk.yandex.ru/d/KapicF_MEysifg"
API_BASE = "https://cloud-api.yandex.net/v1/disk"
KAGGLE_MIRROR = "sergeynesteruk/minerals"
MANIFEST = "download_manifest.json"
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")
TIMEOUT = (15, 120)  # connect, read (s)
CHUNK = 1 << 16  # bytes per read: a cut loses at most one chunk of what arrived


class DownloadError(RuntimeError):
    """The release could not be fetched, verified or extracted; the message says what to do."""


@dataclass(frozen=True)
class RemoteFile:
    """One file of the public folder; `path` is the API's path inside the folder ("/segm.tar")."""

    path: str
    size: int | None
    sha256: str | None

    @property
    def relpath(self) -> str:
        rel = posixpath.normpath(self.path.lstrip("/"))
        if rel.startswith("..") or posixpath.isabs(rel) or rel == ".":
            raise DownloadError(f"remote file {self.path!r} would be written outside the release folder; refusing")
        return rel


def _offline_hint(api_base: str, exc: Exception) -> DownloadError:
    return DownloadError(f"cannot reach {api_base} ({type(exc).__name__}); check the network, or download the Kaggle "
                         f"mirror {KAGGLE_MIRROR} (https://www.kaggle.com/datasets/{KAGGLE_MIRROR}) and pass its "
                         "folder as --root")


def _api_get(session: requests.Session, api_base: str, endpoint: str, params: dict) -> dict:
    url = f"{api_base.rstrip('/')}/public/resources{endpoint}"
    try:
        response = session.get(url, params=params, timeout=TIMEOUT)
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise _offline_hint(api_base, exc) from exc
    if response.status_code != 200:
        raise DownloadError(f"{url} answered HTTP {response.status_code} for path {params.get('path')!r}: "
                            f"{response.text[:200]}; the public folder may have moved (try the Kaggle mirror "
                            f"{KAGGLE_MIRROR})")
    try:
        return response.json()
    except ValueError as exc:
        raise DownloadError(f"{url} did not answer JSON for path {params.get('path')!r}") from exc


def list_files(session: requests.Session, public_key: str = PUBLIC_KEY, api_base: str = API_BASE,
               path: str = "/", page: int = 100) -> list[RemoteFile]:
    """Every file of the public folder, recursively, sorted by path."""
    out, offset = [], 0
    while True:
        meta = _api_get(session, api_base, "", {"public_key": public_key, "path": path, "limit": page,
                                                "offset": offset})
        embedded = meta.get("_embedded", {})
        items = embedded.get("items", [])
        for item in items:
            if item.get("type") == "dir":
                out += list_files(session, public_key, api_base, item["path"], page)
            else:
                out.append(RemoteFile(item["path"], item.get("size"), item.get("sha256")))
        offset += len(items)
        if not items or offset >= embedded.get("total", 0):
            return sorted(out, key=lambda f: f.path)


def resolve_href(session: requests.Session, remote: RemoteFile, public_key: str = PUBLIC_KEY,
                 api_base: str = API_BASE) -> str:
    """A fresh direct download link for one file (links expire, so resolve one per attempt)."""
    answer = _api_get(session, api_base, "/download", {"public_key": public_key, "path": remote.path})
    if "href" not in answer:
        raise DownloadError(f"no download link for {remote.path} in the API's answer: {answer}")
    return answer["href"]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fp:
        for block in iter(lambda: fp.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(session: requests.Session, href: Callable[[], str], dest: Path, size: int | None, retries: int = 5,
          progress: bool = True) -> None:
    """Stream a file into `dest.part`, resuming with Range after cuts, then rename it onto `dest`.

    `href()` gives a fresh link per attempt. The size is checked when known; the checksum is the
    caller's (see `download_release`).
    """
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    last: Exception | None = None
    for attempt in range(retries + 1):
        have = part.stat().st_size if part.exists() else 0
        if size is not None and have > size:
            part.unlink()
            have = 0
        if size is not None and have == size:
            break
        try:
            headers = {"Range": f"bytes={have}-"} if have else {}
            with session.get(href(), headers=headers, stream=True, timeout=TIMEOUT) as response:
                if response.status_code == 429 or response.status_code >= 500:  # busy: try again
                    raise requests.ConnectionError(f"HTTP {response.status_code}")
                if response.status_code not in (200, 206):
                    raise DownloadError(f"{dest.name}: HTTP {response.status_code} from the download link")
                if have and response.status_code == 200:  # the server ignored the Range: start again
                    have = 0
                with open(part, "ab" if have else "wb") as fp, tqdm(
                        total=size, initial=have, unit="B", unit_scale=True, desc=dest.name, disable=not progress,
                        leave=False) as bar:
                    for block in response.iter_content(CHUNK):
                        fp.write(block)
                        bar.update(len(block))
            if size is None or part.stat().st_size == size:
                break
            last = DownloadError(f"got {part.stat().st_size} of {size} bytes")
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
            last = exc
        if attempt < retries:
            time.sleep(min(2 ** attempt * 0.5, 30))
    else:
        raise DownloadError(f"{dest.name}: still incomplete after {retries} retries ({last}); run the command again "
                            f"to resume from {part.name}")
    os.replace(part, dest)


def _archive_target(archive: Path, names: list[str]) -> str:
    """Extract into the release root when every member sits under a folder named like the archive, else into it."""
    stem = archive.name
    for suffix in ARCHIVE_SUFFIXES:
        stem = stem.removesuffix(suffix)
    tops = {PurePosixPath(n).parts[0] for n in names if PurePosixPath(n).parts}
    return "." if tops == {stem} else stem


def _check_member_name(archive: Path, name: str) -> None:
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if name.startswith(("/", "\\")) or (parts and ":" in parts[0]) or ".." in parts:
        raise DownloadError(f"{archive.name}: member {name!r} would be written outside the release folder; refusing "
                            "to extract this archive")


def _check_zip_members(archive: Path, zf: zipfile.ZipFile) -> None:
    for info in zf.infolist():
        _check_member_name(archive, info.filename)
        name = info.filename.replace("\\", "/")
        if stat.S_ISLNK(info.external_attr >> 16):
            target = zf.read(info).decode("utf-8", "replace")
            resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
            if posixpath.isabs(target) or resolved == ".." or resolved.startswith("../"):
                raise DownloadError(f"{archive.name}: link {info.filename!r} -> {target!r} points outside the "
                                    "release folder; refusing to extract this archive")


def extract(archive: Path, root: Path) -> list[str]:
    """Safely extract `archive` under `root`; returns the top-level entries written (relative to root).

    Zip members with absolute paths, `..` or links leaving the root, and tar members the `data`
    filter refuses, raise DownloadError and nothing is moved into place.
    """
    staging = root / f".{archive.name}.extracting"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        if archive.name.endswith(".zip"):
            try:
                with zipfile.ZipFile(archive) as zf:
                    _check_zip_members(archive, zf)
                    names = zf.namelist()
                    zf.extractall(staging)
            except zipfile.BadZipFile as exc:
                raise DownloadError(f"{archive}: not a valid zip ({exc}); delete it and download again") from exc
        else:
            try:
                with tarfile.open(archive) as tf:
                    names = tf.getnames()
                    for name in names:
                        _check_member_name(archive, name)
                    tf.extractall(staging, filter="data")
            except tarfile.FilterError as exc:
                raise DownloadError(f"{archive.name}: unsafe member refused ({exc}); refusing to extract this "
                                    "archive") from exc
            except tarfile.TarError as exc:
                raise DownloadError(f"{archive}: not a valid tar ({exc}); delete it and download again") from exc
        target = root / _archive_target(archive, names)
        target.mkdir(parents=True, exist_ok=True)
        written = []
        for entry in sorted(staging.iterdir()):
            dest = target / entry.name
            if dest.is_dir() and not dest.is_symlink():
                shutil.rmtree(dest)
            elif dest.exists() or dest.is_symlink():
                dest.unlink()
            os.replace(entry, dest)
            written.append(dest.relative_to(root).as_posix())
        return written
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _load_manifest(root: Path) -> dict:
    path = root / MANIFEST
    if not path.exists():
        return {"files": {}, "extracted": {}}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DownloadError(f"{path}: corrupt manifest ({exc}); delete it to re-check every file") from exc


def download_release(root: str | os.PathLike, public_key: str = PUBLIC_KEY, api_base: str = API_BASE,
                     extract_archives: bool = True, retries: int = 5, progress: bool = True,
                     session: requests.Session | None = None) -> dict:
    """Download (or resume, or re-verify) the release into `root`; returns the manifest dict."""
    root = Path(root).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    session = session or requests.Session()
    manifest = _load_manifest(root)
    manifest["source"] = {"public_key": public_key, "api": api_base}
    remote_files = list_files(session, public_key, api_base)
    if not remote_files:
        raise DownloadError(f"the public folder {public_key} lists no files; it may have moved (try the Kaggle mirror "
                            f"{KAGGLE_MIRROR})")
    for remote in tqdm(remote_files, desc="files", unit="file", disable=not progress):
        rel = remote.relpath
        dest = root / rel
        known = manifest["files"].get(rel)
        if dest.exists():
            digest = sha256_file(dest)
            expected = remote.sha256 or (known or {}).get("sha256")
            if expected and digest != expected:
                if known:
                    raise DownloadError(f"{dest}: sha256 {digest[:12]}… differs from the recorded {expected[:12]}…; "
                                        "the file changed since it was downloaded: delete it and run again")
                dest.unlink()  # a stray file of another version: fetch the published one
            else:
                manifest["files"][rel] = {"size": dest.stat().st_size, "sha256": digest,
                                          "remote_sha256": remote.sha256}
                write_json(root / MANIFEST, manifest)
                continue
        fetch(session, lambda r=remote: resolve_href(session, r, public_key, api_base), dest, remote.size, retries,
              progress)
        digest = sha256_file(dest)
        if remote.sha256 and digest != remote.sha256:
            dest.unlink()
            raise DownloadError(f"{rel}: sha256 {digest[:12]}… does not match the published {remote.sha256[:12]}…; "
                                "the file was removed, run the command again")
        manifest["files"][rel] = {"size": dest.stat().st_size, "sha256": digest, "remote_sha256": remote.sha256,
                                  "downloaded": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        manifest["extracted"].pop(rel, None)
        write_json(root / MANIFEST, manifest)
    if extract_archives:
        for rel in sorted(manifest["files"]):
            if rel.endswith(ARCHIVE_SUFFIXES) and rel not in manifest["extracted"]:
                if progress:
                    tqdm.write(f"extracting {rel}")
                manifest["extracted"][rel] = extract(root / rel, root)
                write_json(root / MANIFEST, manifest)
    return manifest

