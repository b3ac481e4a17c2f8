"""Who is using a run dir right now, and did the run complete: the run dir's own record,
kept under `<run dir>/.labspec/` beside what the run writes.

One writer per run dir. Whoever starts a run (the job wrapper on a SLURM node, the
local executor, or `bash launch.sh` by hand) first takes an exclusive `flock` on
`.labspec/lock.<slot>` (one slot per node and shard) and hands the open descriptor
down to the run's processes, so the lock lives exactly as long as any of them does:
a launcher killed by SIGKILL leaves the lock held while its orphans still write, and
free once they are gone. A later launch can therefore tell a live run from a dead one
without trusting pids, and a second attempt cannot start while the first still
writes. `owner.<slot>.json` says who holds it (pid, host, since), for messages and
for `labspec cancel`.

`completed.<slot>.json` is written when an attempt exits 0, so a run can be recognised
as done from its directory alone (a ledger lost or truncated, a run dir deleted).

flock on NFS is emulated with POSIX locks, which die with the process that took them
rather than with the last holder of the descriptor; there the lock still refuses a
second writer while the starter lives. Filesystems without locks (some Lustre mounts)
make `take` return None and the run goes ahead unguarded, with a warning.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

STATE_DIR = ".labspec"


def start_time(pid: int) -> str | None:
    """A process's start time (clock ticks since boot): with its pid, it names it for good."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[19] if len(fields) > 19 else None


def started_at(pid: int) -> float | None:
    """When a process started, in seconds since the epoch (None: gone, or not Linux)."""
    ticks = start_time(pid)
    try:
        boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
        return boot + int(ticks) / os.sysconf("SC_CLK_TCK") if ticks is not None else None
    except (OSError, ValueError, StopIteration):
        return None


def slot(node: int | str = 0, shard: int = 0) -> str:
    return f"node{node}.shard{shard}"


@dataclass(frozen=True)
class Owner:
    pid: int
    host: str
    since: float
    slot: str

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}, since {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(self.since))}"

    @property
    def here(self) -> bool:
        return self.host == socket.gethostname()

    def is_its_process(self, slack_s: float = 120.0) -> bool:
        """Whether the pid still names the process that recorded itself: a pid that started
        well after the record is another process that reuses it (never to be signalled)."""
        began = started_at(self.pid)
        return began is None or began <= self.since + slack_s


class RunDirBusy(RuntimeError):
    """Another attempt of this run still holds its run dir."""


def _dir(run_dir: str | Path) -> Path:
    return Path(run_dir, STATE_DIR)


def take(run_dir: str | Path, which: str, wait_s: float = 0.0) -> int | None:
    """An exclusive lock on the slot, as an open descriptor (inheritable by children);
    None where the filesystem has no locks. Raises RunDirBusy when another attempt
    still holds it after `wait_s` seconds."""
    d = _dir(run_dir)
    d.mkdir(parents=True, exist_ok=True)
    fd = os.open(d / f"lock.{which}", os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                owner = owner_of(run_dir, which)
                raise RunDirBusy(f"{run_dir} is still in use by another attempt of this run "
                                 f"({owner.describe() if owner else 'its owner is unknown'}); "
                                 "wait for it to end or cancel it (labspec cancel)") from None
            time.sleep(0.5)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOLCK, errno.EINVAL):
                return None
            raise


def release(fd: int | None) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)


def record_owner(run_dir: str | Path, which: str, pid: int) -> None:
    path = _dir(run_dir) / f"owner.{which}.json"
    _write_json(path, {"pid": pid, "host": socket.gethostname(), "since": time.time()})


def owner_of(run_dir: str | Path, which: str) -> Owner | None:
    try:
        data = json.loads((_dir(run_dir) / f"owner.{which}.json").read_text(encoding="utf-8"))
        return Owner(int(data["pid"]), str(data["host"]), float(data["since"]), which)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def live_owners(run_dir: str | Path, prefix: str = "lock.") -> list[Owner]:
    """The locks of this run dir (its slots, and each rank's) that someone holds right now
    (nobody: the run is not running)."""
    d = _dir(run_dir)
    if not d.is_dir():
        return []
    found: list[Owner] = []
    for lock in sorted(d.glob(f"{prefix}*")):
        which = lock.name.removeprefix("lock.")
        try:
            fd = os.open(lock, os.O_RDWR)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            found.append(owner_of(run_dir, which) or Owner(0, "?", 0.0, which))
        except OSError:
            pass  # no locks on this filesystem: nothing can be said
        finally:
            os.close(fd)
    return found


def wait_released(run_dir: str | Path, wait_s: float, prefix: str = "lock.") -> bool:
    """Wait until nobody holds the run dir's locks (True), or `wait_s` seconds have passed (False)."""
    deadline = time.monotonic() + wait_s
    while live_owners(run_dir, prefix):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.5)
    return True


def mark_completed(run_dir: str | Path, which: str, job: str) -> None:
    _write_json(_dir(run_dir) / f"completed.{which}.json", {"at": time.time(), "job": job,
                                                            "host": socket.gethostname()})


def clear_completed(run_dir: str | Path, which: str = "*") -> None:
    """A new attempt of a slot (or, with "*", of the whole run) begins: an earlier
    attempt's completion no longer describes the dir."""
    d = _dir(run_dir)
    for path in d.glob(f"completed.{which}.json") if d.is_dir() else ():
        path.unlink(missing_ok=True)


def completed(run_dir: str | Path, shards: int = 1) -> bool:
    """Every shard of the run ended with exit 0 (on node 0) in this run dir."""
    return all((_dir(run_dir) / f"completed.{slot(0, k)}.json").is_file() for k in range(shards))


def _write_json(path: Path, data: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        tmp.write_text(json.dumps(data) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
