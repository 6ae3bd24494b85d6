"""Result files: atomic writes, run records that make reruns resume, tables and figures.

Layout under a results folder (default `results/`)::

    <profile>/runs/<section>/<key-hash>.json   one record per computed run (resume)
    <profile>/runs/<section>/<key-hash>.claim  while a worker computes it (`Claim`: many workers, one folder)
    <profile>/runs/notebooks/<notebook>.json   one record per executed notebook
    <profile>/tables/<id>.csv                  tables gathered from run records
    <profile>/figures/<id>.png                 figures
    <profile>/artifacts/<section>/...          checkpoints, feature caches
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

TRACKED_PACKAGES = (
    "minerals", "torch", "torchvision", "timm", "open_clip_torch", "grad-cam", "numpy", "pandas",
    "scikit-learn", "scikit-image", "opencv-python-headless", "pillow",
)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.

    A reader never sees a half-written file: either the old content or the new one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or path.suffix or ".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write `obj` as indented JSON, atomically."""
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n", encoding="utf-8")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "item"):  # numpy / torch scalars
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def key_hash(key: dict) -> str:
    """A short stable hash of a JSON-able dict (sorted keys)."""
    text = json.dumps(key, sort_keys=True, default=_json_default)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that shape the results."""
    out = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[name] = metadata.version(name)
    return out


def git_commit(cwd: str | os.PathLike | None = None) -> str:
    """The current commit (with `+dirty` when the tree has changes), or `unknown` outside git."""
    cwd = Path(cwd) if cwd else Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=cwd, capture_output=True,
                             text=True, check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return sha + ("+dirty" if dirty else "")


def provenance(device: str) -> dict:
    """Versions, commit, device, host and machine class (`runtime.machine_class`) of this process."""
    from minerals.runtime import machine_class

    return {"versions": package_versions(), "commit": git_commit(), "device": device,
            "host": platform.node(), "platform": platform.platform(), "machine": machine_class(device)}


CLAIM_TIMEOUT_S = 600.0  # a claim whose heartbeat is older than this is a dead worker's (env MINERALS_CLAIM_TIMEOUT)


class ResultsError(RuntimeError):
    """A results folder that cannot be written (read-only filesystem, no permission)."""


def claim_timeout() -> float:
    """Seconds after the last heartbeat at which a claim expires: `MINERALS_CLAIM_TIMEOUT` or 600."""
    text = os.environ.get("MINERALS_CLAIM_TIMEOUT", "")
    try:
        value = float(text) if text else CLAIM_TIMEOUT_S
    except ValueError:
        raise ResultsError(f"MINERALS_CLAIM_TIMEOUT={text!r} is not a number of seconds") from None
    if value <= 0:
        raise ResultsError(f"MINERALS_CLAIM_TIMEOUT={text!r} must be positive")
    return value


def _unwritable(folder: Path, exc: OSError) -> ResultsError:
    return ResultsError(f"results folder {folder} is not writable ({exc.strerror or exc}); pass --results DIR "
                        "on a writable filesystem")


def check_writable(folder: str | os.PathLike) -> Path:
    """Create `folder` and a scratch file in it; ResultsError (one line) when the filesystem refuses."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise _unwritable(folder, exc) from exc
    return folder


# Claims held by this process, by (claim path, thread): a worker that already owns a key re-enters it.
_HELD: dict[tuple[str, int], "Claim"] = {}
_HELD_LOCK = threading.Lock()


class Claim:
    """One worker's ownership of a run key: `<hash>.claim` beside the record, created with `O_EXCL`.

    The file holds host, pid, thread, a random token and the start time; its mtime is the heartbeat,
    touched every `timeout_s / 10` by a daemon thread. A claim whose heartbeat is older than
    `timeout_s` belongs to a dead worker and is taken over: under a second `O_EXCL` lock
    (`.claim.takeover`) the taker re-checks the age and `os.replace`s the file with its own, so two
    workers never both own it. Hosts sharing a folder need clocks within a small part of `timeout_s`.
    Use as a context manager; `release()` removes the file only while it still holds our token.
    """

    def __init__(self, path: Path, timeout_s: float):
        self.path, self.timeout_s = Path(path), float(timeout_s)
        self.owner = {"host": platform.node(), "pid": os.getpid(), "thread": threading.get_ident(),
                      "token": uuid.uuid4().hex, "start": time.time(), "timeout_s": self.timeout_s}
        self.depth = 0
        self.lost = False
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    @property
    def heartbeat_s(self) -> float:
        return self.timeout_s / 10

    def acquire(self) -> bool:
        """Own the key now (True), or False when a live worker holds it. Takes over an expired claim."""
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if not self._take_over():
                return False
        except OSError as exc:
            if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
                raise _unwritable(self.path.parent, exc) from exc
            raise
        else:
            with os.fdopen(fd, "w", encoding="utf-8") as fp:
                json.dump(self.owner, fp)
        self.depth = 1
        self._beat = threading.Thread(target=self._heartbeat, name=f"claim {self.path.name}", daemon=True)
        self._beat.start()
        return True

    def _age(self) -> float | None:
        """Seconds since the claim file's last heartbeat; None when there is no claim file."""
        try:
            return time.time() - self.path.stat().st_mtime
        except FileNotFoundError:
            return None

    def _take_over(self) -> bool:
        age = self._age()
        if age is None or age <= self.timeout_s:
            return False
        lock = self.path.with_name(self.path.name + ".takeover")
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            with contextlib.suppress(FileNotFoundError):  # a taker that died within its takeover
                if time.time() - lock.stat().st_mtime > self.timeout_s:
                    lock.unlink()
            return False
        os.close(fd)
        try:
            age = self._age()  # re-checked under the lock: the owner may have beaten since
            if age is None or age <= self.timeout_s:
                return False
            with atomic_write(self.path, suffix=".claim-tmp") as tmp:
                tmp.write_text(json.dumps(self.owner), encoding="utf-8")
            print(f"taking over {self.path} (no heartbeat for {age:.0f} s, timeout {self.timeout_s:.0f} s)",
                  file=sys.stderr)
            return True
        finally:
            lock.unlink(missing_ok=True)

    def holds(self) -> bool:
        """Whether the claim file still carries this claim's token."""
        return claim_owner(self.path).get("token") == self.owner["token"]

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            if not self.holds():
                self.lost = True
                print(f"lost the claim {self.path} to another worker (this one stalled past the timeout)",
                      file=sys.stderr)
                return
            with contextlib.suppress(FileNotFoundError):
                os.utime(self.path)

    def release(self) -> None:
        """Drop one level of ownership; at the last, stop the heartbeat and remove our claim file."""
        self.depth -= 1
        if self.depth > 0:
            return
        self._stop.set()
        if self._beat is not None:
            self._beat.join()
        with _HELD_LOCK:
            _HELD.pop((str(self.path), self.owner["thread"]), None)
        if self.holds():
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> "Claim":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def claim_owner(path: str | os.PathLike) -> dict:
    """What a claim file says about its owner (host, pid, token, start); {} when absent or being written."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


class RunStore:
    """Run records of one section: `run(key, fn)` computes once, then returns the stored metrics.

    Workers sharing the folder (threads, processes, hosts on a shared filesystem) compute each key
    once: `run` claims the key (`Claim`) before computing and waits while another worker holds it.
    """

    def __init__(self, folder: str | os.PathLike, device: str = "cpu", claim_timeout_s: float | None = None):
        self.folder = Path(folder)
        self.device = device
        self.claim_timeout_s = claim_timeout_s

    def path(self, key: dict) -> Path:
        return self.folder / f"{key_hash(key)}.json"

    def claim_path(self, key: dict) -> Path:
        return self.folder / f"{key_hash(key)}.claim"

    def get(self, key: dict) -> dict | None:
        """The stored record for `key`, or None."""
        path = self.path(key)
        if not path.exists():
            return None
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: corrupt run record ({exc}); delete it to recompute") from exc
        return record

    def _timeout(self) -> float:
        return self.claim_timeout_s or claim_timeout()

    def claim(self, key: dict) -> Claim | None:
        """This worker's claim on `key` (a context manager), or None while another live worker holds it.

        Re-entrant: a thread that holds the key gets the same claim back (released at the outermost exit).
        Raises ResultsError when the folder cannot be written.
        """
        path = self.claim_path(key)
        ident = (str(path), threading.get_ident())
        with _HELD_LOCK:
            held = _HELD.get(ident)
            if held is not None:
                held.depth += 1
                return held
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _unwritable(self.folder, exc) from exc
        claim = Claim(path, self._timeout())
        if not claim.acquire():
            return None
        with _HELD_LOCK:
            _HELD[ident] = claim
        return claim

    def busy(self, key: dict) -> bool:
        """Whether a live claim (heartbeat within the timeout) of another worker is on `key`."""
        path = self.claim_path(key)
        if (str(path), threading.get_ident()) in _HELD:
            return False
        try:
            return time.time() - path.stat().st_mtime <= self._timeout()
        except FileNotFoundError:
            return False

    def wait(self, key: dict) -> bool:
        """Block while another worker's live claim is on `key`; True when a record exists afterwards."""
        said = False
        poll = min(5.0, max(0.02, self._timeout() / 20))
        while self.get(key) is None and self.busy(key):
            if not said:
                owner = claim_owner(self.claim_path(key))
                print(f"waiting for {self.claim_path(key)} (held by {owner.get('host', '?')} pid "
                      f"{owner.get('pid', '?')})", file=sys.stderr)
                said = True
            time.sleep(poll)
        return self.get(key) is not None

    def run(self, key: dict, fn: Callable[[], dict], force: bool = False) -> dict:
        """Return the metrics of `key`, computing them with `fn()` only when no record exists.

        Waits while another worker computes the same key, then returns its record.
        """
        record = None if force else self.get(key)
        if record is not None:
            return record["metrics"]
        while (claim := self.claim(key)) is None:
            if self.wait(key) and not force:
                return self.get(key)["metrics"]
        with claim:
            record = None if force else self.get(key)  # finished by another worker before our claim
            if record is not None:
                return record["metrics"]
            start = time.perf_counter()
            metrics = fn()
            record = {"key": key, "metrics": metrics, "wall_s": round(time.perf_counter() - start, 3),
                      "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **provenance(self.device)}
            write_json(self.path(key), record)
        return metrics

    def records(self) -> list[dict]:
        """All records of this section, sorted by file name."""
        return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(self.folder.glob("*.json"))]


@dataclass(frozen=True)
class Shard:
    """Share `index` (0-based) of `count` of a grid: cells `index, index + count, ...`."""

    index: int = 0
    count: int = 1

    @classmethod
    def parse(cls, text: str) -> "Shard":
        """`"I/N"` with 0 <= I < N, e.g. `--shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT` for an
        array `--array=0-(N-1)`. Raises ValueError saying what is wrong."""
        parts = str(text).split("/")
        if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
            raise ValueError(f"--shard {text!r}: expected I/N with whole numbers, e.g. 0/4 (I is 0-based)")
        index, count = (int(p) for p in parts)
        if count < 1:
            raise ValueError(f"--shard {text!r}: N must be at least 1")
        if index >= count:
            raise ValueError(f"--shard {text!r}: I must be in 0..{count - 1} (0-based; a SLURM array for "
                             f"{count} shards is --array=0-{count - 1})")
        return cls(index, count)

    def select(self, items: Sequence) -> list[int]:
        """Indices of this shard's items."""
        return list(range(self.index, len(items), self.count))


def run_cells(store: RunStore, cells: Sequence, key: Callable[[Any], dict], compute: Callable[[Any], Any],
              shard: Shard | None = None) -> Iterator[tuple[int, Any, str]]:
    """Run this worker's share of a grid, each cell once across all workers sharing `store`'s folder.

    `key(cell)` is the run key that marks the cell finished (its record) and is claimed while it
    runs; `compute(cell)` computes or reuses the cell (through `store.run`). Cells finished earlier
    are reused, cells claimed by live workers are deferred to the end, then awaited (or taken over
    when their claim expires). Yields `(index in cells, result, how)` as cells finish, `how` one of
    `reused`, `ran`, `by another worker`.
    """
    deferred = []
    for i in (shard or Shard()).select(cells):
        cell = cells[i]
        if store.get(key(cell)) is not None:
            yield i, compute(cell), "reused"
            continue
        claim = store.claim(key(cell))
        if claim is None:
            deferred.append(i)
            continue
        with claim:
            how = "reused" if store.get(key(cell)) is not None else "ran"
            yield i, compute(cell), how
    for i in deferred:
        cell = cells[i]
        how = "by another worker" if store.wait(key(cell)) else "ran"
        yield i, compute(cell), how
