"""The run ledger: an SQLite file in the output root that remembers every experiment
and run, its job, and every state it went through.

Why SQLite: an embedded database with transactions, no server, one file beside the
runs. Concurrency: launches take an exclusive lock on `ledger.lock` for their whole
plan-submit-record cycle, so two launches of one spec at the same moment submit each
run once. A launch killed halfway leaves runs in SUBMITTING with a token that the job
carries in its SLURM comment; the next launch finds those jobs and completes the
ledger instead of submitting twice (`Ledger.pending_tokens`).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import sqlite3
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from specs.errors import LabspecError
from specs.layout import LABSPEC_DIR

SCHEMA_VERSION = 3  # 2: runs.coordinates; 3: runs.code
LEDGER_DIR = LABSPEC_DIR

# states a run can be in; SLURM's own names where they exist
NEW, SUBMITTING, PENDING, RUNNING = "NEW", "SUBMITTING", "PENDING", "RUNNING"
COMPLETED, FAILED, CANCELLED, TIMEOUT = "COMPLETED", "FAILED", "CANCELLED", "TIMEOUT"
UPSTREAM_FAILED = "UPSTREAM_FAILED"  # can no longer start: something it depends on failed
INTERRUPTED = "INTERRUPTED"  # its local launcher ended before it did; the next launch resumes it
ACTIVE = (SUBMITTING, PENDING, RUNNING)
TERMINAL = (COMPLETED, FAILED, CANCELLED, TIMEOUT, UPSTREAM_FAILED, "OUT_OF_MEMORY", "NODE_FAIL",
            "BOOT_FAIL", "DEADLINE", "PREEMPTED")
FAILED_STATES = tuple(s for s in TERMINAL if s != COMPLETED)  # what blocks dependents


# a planned run: id, name, stage, run dir, depends_on, shards, coordinates
PlannedRun = tuple[str, str, str, str, tuple[str, ...], int, dict[str, Any]]


class LedgerError(LabspecError):
    """The ledger cannot be used (newer version, unreadable, unknown names)."""


@dataclass(frozen=True)
class RunRecord:
    id: str
    experiment: str
    name: str
    stage: str
    run_dir: str
    depends_on: tuple[str, ...]
    state: str
    executor: str | None
    job_id: str | None  # SLURM job id: "123", "123_4" for an array task, "123" for a sharded run's array
    task_index: int | None  # its task in the array job (known before sbatch answers; None: the whole job)
    shards: int
    coordinates: dict[str, Any]  # its place in the experiment (specs.tasks.Coordinates): role, iteration, ...
    token: str | None
    submitted_at: float | None
    started_at: float | None
    ended_at: float | None
    detail: str | None
    code: str | None = None  # the id of the code snapshot its latest submission runs (launch.snapshot)

    @property
    def elapsed(self) -> float | None:
        if self.started_at is None:
            return None
        return (self.ended_at or time.time()) - self.started_at


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS experiments (
    name TEXT PRIMARY KEY, kind TEXT NOT NULL, spec_path TEXT, spec_sha256 TEXT,
    git_commit TEXT, git_dirty INTEGER, allow_dirty INTEGER, overrides TEXT,
    created_at REAL NOT NULL, updated_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY, experiment TEXT NOT NULL, name TEXT NOT NULL, stage TEXT NOT NULL,
    run_dir TEXT NOT NULL, depends_on TEXT NOT NULL, state TEXT NOT NULL, executor TEXT,
    job_id TEXT, task_index INTEGER, shards INTEGER NOT NULL DEFAULT 1, token TEXT, submitted_at REAL,
    started_at REAL, ended_at REAL, detail TEXT, spec_sha256 TEXT, git_commit TEXT, coordinates TEXT,
    code TEXT);
CREATE INDEX IF NOT EXISTS runs_experiment ON runs (experiment);
CREATE TABLE IF NOT EXISTS events (
    run_id TEXT NOT NULL, state TEXT NOT NULL, at REAL NOT NULL, detail TEXT);
CREATE INDEX IF NOT EXISTS events_run ON events (run_id);
"""


class Ledger:
    """One output root's ledger. Use as a context manager, or call close()."""

    def __init__(self, output_root: str | Path, create: bool = True) -> None:
        self.root = Path(output_root)
        self.dir = self.root / LEDGER_DIR
        self.path = self.dir / "ledger.sqlite"
        if not self.path.exists() and not create:
            raise LedgerError(f"no labspec ledger under {self.root} (nothing was launched there yet); "
                              "pass --root with the output_root of your spec")
        self.was_empty = self.path.is_file() and self.path.stat().st_size == 0
        if self.was_empty:
            print(f"warning: the ledger {self.path} is empty (0 bytes: truncated?); starting it afresh. Runs "
                  "that their run dirs show completed are adopted, not run again", file=sys.stderr)
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            self.db.row_factory = sqlite3.Row
            # the default rollback journal, not WAL: output roots often live on NFS/Lustre
            self.db.execute("PRAGMA busy_timeout=60000")
            self._migrate()
        except (OSError, sqlite3.Error) as exc:
            raise LedgerError(f"cannot use the ledger at {self.path}: {exc}; check --root and its "
                              "permissions (nothing was changed)") from None

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    def _migrate(self) -> None:
        self.db.executescript(_SCHEMA)
        row = self.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is not None and int(row["value"]) > SCHEMA_VERSION:
            raise LedgerError(
                f"{self.path} was written by a newer labspec (ledger schema {row['value']}, this labspec "
                f"reads up to {SCHEMA_VERSION}); upgrade labspec. Nothing was changed")
        columns = {r["name"] for r in self.db.execute("PRAGMA table_info(runs)")}
        if "coordinates" not in columns:  # schema 1 -> 2
            self.db.execute("ALTER TABLE runs ADD COLUMN coordinates TEXT")
        if "code" not in columns:  # schema 2 -> 3
            self.db.execute("ALTER TABLE runs ADD COLUMN code TEXT")
        if row is None or int(row["value"]) < SCHEMA_VERSION:  # written only when it changes (a full disk reads)
            self.db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive across processes: one launch at a time plans, submits and records."""
        with open(self.dir / "ledger.lock", "a+") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                print(f"waiting for another labspec launch on {self.root} to finish ...", file=sys.stderr,
                      flush=True)
                fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All or nothing. SQLite errors (a full disk, a lost file) become a LedgerError
        that names them; a failed ROLLBACK (SQLite may have rolled back already) never
        hides the error that caused it."""
        try:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
                self.db.execute("COMMIT")
            except BaseException:
                if self.db.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        self.db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise self.unwritable(exc) from None

    def unwritable(self, exc: BaseException) -> LedgerError:
        full = "full" in str(exc).lower() or getattr(exc, "errno", None) == errno.ENOSPC
        advice = ("the disk holding it is full: free space, then launch again (runs cut short resume from "
                  "their checkpoints; finished ones are found in their run dirs)") if full else \
            "check that the output root is writable"
        return LedgerError(f"the ledger {self.path} could not be written ({exc}); {advice}")

    # --- experiments ------------------------------------------------------------

    def record_experiment(self, name: str, kind: str, provenance: dict[str, Any], allow_dirty: bool) -> None:
        now = time.time()
        with self.transaction() as db:
            db.execute(
                """INSERT INTO experiments VALUES (?,?,?,?,?,?,?,?,?,?)
                   ON CONFLICT(name) DO UPDATE SET kind=excluded.kind, spec_path=excluded.spec_path,
                   spec_sha256=excluded.spec_sha256, git_commit=excluded.git_commit,
                   git_dirty=excluded.git_dirty, allow_dirty=excluded.allow_dirty,
                   overrides=excluded.overrides, updated_at=excluded.updated_at""",
                (name, kind, provenance.get("spec"), provenance.get("spec_sha256"), provenance.get("git_commit"),
                 _bool(provenance.get("git_dirty")), int(allow_dirty), json.dumps(provenance.get("overrides", [])),
                 now, now))

    def experiments(self) -> list[str]:
        return [r["name"] for r in self.db.execute("SELECT name FROM experiments ORDER BY created_at")]

    # --- runs -------------------------------------------------------------------

    def get(self, run_id: str) -> RunRecord | None:
        row = self.db.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone()
        return _record(row) if row else None

    def runs(self, experiment: str | None = None) -> list[RunRecord]:
        if experiment is None:
            rows = self.db.execute("SELECT * FROM runs ORDER BY rowid")
        else:
            rows = self.db.execute("SELECT * FROM runs WHERE experiment=? ORDER BY rowid", (experiment,))
        return [_record(r) for r in rows]

    def upsert_planned(self, experiment: str, runs: list[PlannedRun], provenance: dict[str, Any]) -> None:
        """Make sure every planned run has a row (NEW when new)."""
        now = time.time()
        with self.transaction() as db:
            for run_id, name, stage, run_dir, depends_on, shards, coordinates in runs:
                cur = db.execute(
                    "INSERT OR IGNORE INTO runs (id, experiment, name, stage, run_dir, depends_on, state, shards,"
                    " spec_sha256, git_commit, coordinates) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (run_id, experiment, name, stage, run_dir, json.dumps(list(depends_on)), NEW, shards,
                     provenance.get("spec_sha256"), provenance.get("git_commit"), json.dumps(coordinates)))
                if not cur.rowcount:  # rows of an older ledger learn their coordinates
                    db.execute("UPDATE runs SET coordinates=? WHERE id=? AND coordinates IS NULL",
                               (json.dumps(coordinates), run_id))
                if cur.rowcount:
                    db.execute("INSERT INTO events VALUES (?,?,?,?)", (run_id, NEW, now, None))

    def set_code(self, run_ids: Sequence[str], code_id: str) -> None:
        """The runs about to be submitted run the code snapshot `code_id`."""
        with self.transaction() as db:
            db.executemany("UPDATE runs SET code=? WHERE id=?", [(code_id, rid) for rid in run_ids])

    def code_in_use(self) -> dict[str, int]:
        """Code snapshot id -> how many runs of this ledger refer to it."""
        rows = self.db.execute("SELECT code, COUNT(*) AS n FROM runs WHERE code IS NOT NULL GROUP BY code")
        return {r["code"]: r["n"] for r in rows}

    def set_state(self, run_id: str, state: str, detail: str | None = None, **fields: Any) -> bool:
        """Move a run to `state` (recording the event when it changes). Returns whether it changed."""
        return self.set_states([(run_id, state, detail, fields)])[0]

    def set_states(self, updates: Sequence[tuple[str, str, str | None, Mapping[str, object]]],
                   _nested: bool = False) -> list[bool]:
        """Several `set_state`s in one transaction (a whole job array at once)."""
        now = time.time()
        changed: list[bool] = []
        with contextlib.nullcontext(self.db) if _nested else self.transaction() as db:
            for run_id, state, detail, fields in updates:
                row = db.execute("SELECT state, started_at FROM runs WHERE id=?", (run_id,)).fetchone()
                if row is None:
                    raise LedgerError(f"unknown run {run_id}")
                values = dict(fields)
                values["state"] = state
                values["detail"] = detail
                if state == RUNNING and row["started_at"] is None and "started_at" not in fields:
                    values["started_at"] = now
                if state in TERMINAL or state == INTERRUPTED:
                    values.setdefault("ended_at", now)
                elif state in (SUBMITTING, PENDING):
                    values["ended_at"] = None
                cols = ", ".join(f"{k}=?" for k in values)
                db.execute(f"UPDATE runs SET {cols} WHERE id=?", (*values.values(), run_id))
                if row["state"] != state:
                    db.execute("INSERT INTO events VALUES (?,?,?,?)", (run_id, state, now, detail))
                changed.append(row["state"] != state)
        return changed

    def set_state_if(self, run_id: str, expected: tuple[str, ...], state: str, detail: str | None = None,
                     **fields: Any) -> bool:
        """`set_state` only while the run is in one of `expected` (compare and set): a local
        launch never overwrites a `labspec cancel`, nor claims a run another launch took."""
        with self.transaction() as db:
            row = db.execute("SELECT state FROM runs WHERE id=?", (run_id,)).fetchone()
            if row is None or row["state"] not in expected:
                return False
            self.set_states([(run_id, state, detail, fields)], _nested=True)
            return True

    def events(self, run_id: str) -> list[tuple[str, float, str | None]]:
        rows = self.db.execute("SELECT state, at, detail FROM events WHERE run_id=? ORDER BY rowid", (run_id,))
        return [(r["state"], r["at"], r["detail"]) for r in rows]

    def pending_tokens(self) -> dict[str, list[RunRecord]]:
        """Runs a killed launch left in SUBMITTING, by the token their job would carry."""
        out: dict[str, list[RunRecord]] = {}
        for r in self.db.execute("SELECT * FROM runs WHERE state=?", (SUBMITTING,)):
            rec = _record(r)
            out.setdefault(rec.token or "", []).append(rec)
        return out

    def find(self, query: str, experiment: str | None = None) -> RunRecord:
        """A run by id, id prefix, or name (within `experiment` when given). Several matches
        are an error that lists them with their experiments and short ids."""
        candidates = self.runs(experiment)
        exact = [r for r in candidates if query in (r.id, r.name)]
        found = exact or [r for r in candidates if r.id.startswith(query) or r.name.startswith(query)]
        if len(found) == 1:
            return found[0]
        if not found:
            from difflib import get_close_matches

            close = get_close_matches(query, [r.name for r in candidates], n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            where = f"experiment {experiment}" if experiment else "the ledger"
            raise LedgerError(f"no run {query!r} in {where} at {self.path}{hint}")
        short = short_ids(self.runs())
        listed = ", ".join(f"{r.name} in {r.experiment} ({short[r.id]})" for r in found[:8])
        more = f" and {len(found) - 8} more" if len(found) > 8 else ""
        raise LedgerError(f"{query!r} matches {len(found)} runs: {listed}{more}; give one of these ids")


def short_ids(runs: Sequence[RunRecord], minimum: int = 6) -> dict[str, str]:
    """Each run's shortest id prefix (at least `minimum` characters) that `Ledger.find`
    resolves to it alone among `runs`, so that a table can show it and a command accept it:
    no other run's id or name may start with it. Sorting puts the keys that share a prefix
    with an id beside it, so only its nearest keys of other runs are compared."""
    keys = sorted({(key, r.id) for r in runs for key in (r.id, r.name)})
    out: dict[str, str] = {}
    for i, (key, run_id) in enumerate(keys):
        if key != run_id:
            continue
        shared = 0
        for step in (-1, 1):
            j = i + step
            while 0 <= j < len(keys) and keys[j][1] == run_id:
                j += step  # its own name
            if 0 <= j < len(keys):
                shared = max(shared, _shared_prefix(key, keys[j][0]))
        out[run_id] = key[:max(minimum, shared + 1)]
    return out


def _shared_prefix(a: str, b: str) -> int:
    """How many leading characters `a` and `b` have in common."""
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))


def _bool(value: Any) -> int | None:
    return None if value is None else int(bool(value))


def _record(row: sqlite3.Row) -> RunRecord:
    return RunRecord(
        id=row["id"], experiment=row["experiment"], name=row["name"], stage=row["stage"],
        run_dir=row["run_dir"], depends_on=tuple(json.loads(row["depends_on"])), state=row["state"],
        executor=row["executor"], job_id=row["job_id"], task_index=row["task_index"], shards=row["shards"],
        token=row["token"], coordinates=json.loads(row["coordinates"] or "{}"),
        submitted_at=row["submitted_at"], started_at=row["started_at"], ended_at=row["ended_at"],
        detail=row["detail"], code=row["code"])


def ledger_root(output_root: str | None) -> str:
    """The output root whose ledger commands read: --root, else $LABSPEC_ROOT, else ./runs."""
    return os.path.abspath(output_root or os.environ.get("LABSPEC_ROOT") or "runs")
