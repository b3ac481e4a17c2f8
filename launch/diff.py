"""`labspec diff`: why two runs' numbers differ, of the same experiment or of any two.

Two runs can differ in four ways, and each is read from what their run dirs recorded,
never from the spec as it is now: their config (run.json and deepspeed.json), the code
that ran (the code snapshots provenance.json names), the environment they ran in
(environment.json, written when a run starts), and the upstream runs they consumed.

What is per-run by construction (ids, names, run dirs, the grid coordinates) is left out
of the config: two grid points always differ there, and saying so explains nothing.
Paths into an upstream run dir become `<upstream STAGE>/...`, so two evaluations of
different checkpoints compare equal in their own config and the difference is reported
once, where it is: in the upstream run, whose own differences are summarised one level
down (the `labspec diff` to run on them is suggested).

Reading only: a run dir written by an older labspec (no snapshot, no environment) is
compared as far as it goes, and what could not be compared is said. Standard library
only, so the CLI stays instant.
"""

from __future__ import annotations

import difflib
import json
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from launch.jsonfile import read_object
from launch.ledger import LEDGER_DIR, Ledger, LedgerError, RunRecord, ledger_root
from launch.snapshot import MANIFEST
from specs.errors import LabspecError
from specs.layout import snapshot_dir

# run.json fields that differ between any two runs by construction; `experiment` is shown in the header
PER_RUN = ("run_id", "run_name", "run_dir", "base_dir", "paths", "outputs", "deepspeed_config", "depends_on",
           "axes", "coordinates", "experiment")
PER_RUN_NESTED = (("tensorboard", "log_dir"), ("tensorboard", "sessions"), ("tensorboard", "metric_prefix"))
SHOWN_UPSTREAM_FIELDS = 5  # config fields of a differing upstream run shown before "..."
WIDTH = 100  # a value longer than this is cut in the text output (never in --format json)


class DiffError(LabspecError):
    """A run to compare cannot be found or read."""


class _Absent:
    """A field one run has and the other has not."""

    def __repr__(self) -> str:
        return "(absent)"


ABSENT: Any = _Absent()


@dataclass(frozen=True)
class Change:
    """One field that differs: its dotted path and both values (ABSENT where missing)."""

    field: str
    a: Any
    b: Any

    def text(self) -> str:
        return f"{self.field}: {_show(self.a)} -> {_show(self.b)}"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"field": self.field}
        out.update({k: v for k, v in (("a", self.a), ("b", self.b)) if v is not ABSENT})
        return out


@dataclass(frozen=True)
class RunFiles:
    """What one run dir recorded, read once."""

    run_dir: Path
    config: dict[str, Any]
    deepspeed: dict[str, Any] | None
    provenance: dict[str, Any] | None
    environment: dict[str, Any] | None
    record: RunRecord | None = None  # its ledger row, when it was found through the ledger

    @property
    def id(self) -> str:
        return str(self.config.get("run_id") or self.run_dir.name)

    @property
    def name(self) -> str:
        return str(self.config.get("run_name") or self.run_dir.name)

    @property
    def stage(self) -> str:
        return str(self.config.get("stage") or "?")

    @property
    def depends_on(self) -> list[str]:
        deps = self.config.get("depends_on")
        return [str(d) for d in deps] if isinstance(deps, list) else []


def read_run(run_dir: str | Path, what: str = "run") -> RunFiles:
    """A run dir's files; DiffError naming `what` when it holds no readable run.json."""
    path = Path(run_dir).absolute()
    config = read_object(path / "run.json")
    if config is None:
        why = "has no run.json" if not (path / "run.json").exists() else "has a run.json that is not a JSON object"
        raise DiffError(f"{what}: {path} {why}, so it is not a run dir; give a run dir, or a run id or name "
                        "(`labspec status` lists them)")
    return RunFiles(path, config, read_object(path / "deepspeed.json"), read_object(path / "provenance.json"),
                    read_object(path / "environment.json"))


class Runs:
    """Finds runs: by run dir, or by id or name in the ledger (opened only when needed)."""

    def __init__(self, root: str | None = None) -> None:
        self.root = root
        self._ledger: Ledger | None = None
        self._ledger_error: str | None = None

    def __enter__(self) -> Runs:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._ledger is not None:
            self._ledger.close()

    def ledger(self) -> Ledger | None:
        if self._ledger is None and self._ledger_error is None:
            try:
                self._ledger = Ledger(ledger_root(self.root), create=False)
            except LedgerError as exc:
                self._ledger_error = str(exc)
        return self._ledger

    def resolve(self, query: str, what: str) -> RunFiles:
        """RUN_A or RUN_B: a directory is a run dir, anything else a run id, id prefix or name."""
        path = Path(query).expanduser()
        if path.is_dir():
            return read_run(path, what)
        if "/" in query or query.startswith("."):
            raise DiffError(f"{what}: no directory {query}; give a run dir, or a run id or name "
                            "(`labspec status` lists them)")
        ledger = self.ledger()
        if ledger is None:
            root = ledger_root(self.root)
            if Path(root, LEDGER_DIR).is_dir():  # a ledger that cannot be read says why
                raise DiffError(f"{what}: {query!r} is not a run dir, and {self._ledger_error}")
            raise DiffError(f"{what}: {query!r} is not a run dir, and there is no ledger under {root} to look it "
                            "up in; pass --root with the output_root it was launched under, or give its run dir")
        try:
            rec = ledger.find(query)
        except LedgerError as exc:
            raise DiffError(f"{what}: {exc}; `labspec status --root {ledger.root}` lists the runs") from None
        if not Path(rec.run_dir, "run.json").is_file():
            raise DiffError(f"{what}: the run dir of {rec.name} ({rec.id}) is gone: {rec.run_dir} has no run.json")
        return _with_record(read_run(rec.run_dir, what), rec)

    def upstream(self, run: RunFiles) -> list[Upstream]:
        """The runs `run` depends on, labelled by stage: through the ledger, else its sibling
        run dirs (`<experiment dir>/<name>-<id>`), else the run dirs its config's paths lie in."""
        found: dict[str, RunFiles] = {}
        for dep in run.depends_on:
            siblings = sorted(run.run_dir.parent.glob(f"*-{dep}"))
            ledger = self._ledger if siblings else self.ledger()  # opened only to look for what is not beside it
            rec = ledger.get(dep) if ledger is not None else None
            for cand in siblings + ([Path(rec.run_dir)] if rec is not None else []):
                up = _run_with_id(cand, dep)
                if up is not None:
                    found[dep] = up if rec is None else _with_record(up, rec)
                    break
        missing = set(run.depends_on) - set(found)
        for text in _strings(run.config) if missing else ():
            for parent in Path(text).parents if text.startswith("/") else ():
                candidate = read_object(parent / "run.json")
                if candidate is not None and candidate.get("run_id") in missing:
                    up = _run_with_id(parent, str(candidate["run_id"]))
                    if up is not None:
                        found[up.id] = up
                        missing.discard(up.id)
                    break
        out: list[Upstream] = []
        seen: dict[str, int] = {}
        for dep in run.depends_on:
            up = found.get(dep)
            stage = up.stage if up is not None else f"{dep} (run dir not found)"
            seen[stage] = seen.get(stage, 0) + 1
            label = stage if seen[stage] == 1 else f"{stage}#{seen[stage]}"
            out.append(Upstream(label, dep, up))
        return out

    def code_dir(self, run: RunFiles) -> tuple[str | None, Path | None]:
        """The id and directory of the code snapshot the run ran: from provenance.json, else
        from its ledger row (under the ledger's output root)."""
        code = (run.provenance or {}).get("code")
        if isinstance(code, dict) and code.get("id"):
            where = code.get("dir")
            return str(code["id"]), Path(str(where)) if where else None
        code_id = getattr(run.record, "code", None)  # ledgers of schema 3 and later
        ledger = self._ledger
        if code_id and ledger is not None:
            return str(code_id), Path(snapshot_dir(str(ledger.root), str(code_id)))
        return None, None

    def ref(self, run: RunFiles) -> str:
        """How to name `run` on the command line: its id when the ledger knows it, else its run dir."""
        if run.record is not None:
            return run.id + (f" --root {shlex.quote(self.root)}" if self.root else "")
        return shlex.quote(str(run.run_dir))


@dataclass(frozen=True)
class Upstream:
    """A run another depends on, under the label its paths are shown with."""

    label: str
    id: str
    run: RunFiles | None


@dataclass
class CodeDiff:
    """The code the two runs ran: snapshot ids, commits and dirty flags, files that differ."""

    a: str | None = None  # snapshot ids
    b: str | None = None
    changes: list[Change] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    patch: str = ""  # with code_diff: a unified diff of the files that differ

    @property
    def differs(self) -> bool:
        return bool(self.changes or self.added or self.removed or self.changed)

    def lines(self) -> list[str]:
        out = [c.text() for c in self.changes]
        for what, names in (("added", self.added), ("removed", self.removed), ("changed", self.changed)):
            if names:
                out.append(f"{len(names)} file{'s' if len(names) != 1 else ''} {what}: {', '.join(names)}")
        return out + self.notes

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"a": self.a, "b": self.b, "changes": [c.to_json() for c in self.changes],
                               "added": self.added, "removed": self.removed, "changed": self.changed,
                               "notes": self.notes}
        if self.patch:
            out["diff"] = self.patch
        return out


@dataclass
class UpstreamDiff:
    """One upstream stage of the two runs: the same run, two runs (and how they differ), or one side only."""

    label: str
    a: str | None
    b: str | None
    detail: RunDiff | None = None  # both found and different: their own diff (one level down)
    suggest: str = ""  # the `labspec diff` to run on them
    note: str = ""

    @property
    def differs(self) -> bool:
        return self.a != self.b

    def lines(self) -> list[str]:
        if not self.differs:
            return [f"{self.label}: {self.a} (the same run)"]
        if self.a is None or self.b is None:
            side = "a" if self.a is not None else "b"
            return [f"{self.label}: only {side} depends on it ({self.a or self.b})"]
        head = f"{self.label}: {self.a} -> {self.b} differs"
        if self.detail is None:
            return [f"{head}; {self.note}"]
        d = self.detail
        if not d.differs:
            return [f"{head} only in what is per run (name, experiment, run dir)"]
        parts = [_count(len(d.config), "config field")]
        if d.code.differs:
            files = len(d.code.added) + len(d.code.removed) + len(d.code.changed)
            parts.append(_count(files, "code file") if files else "its code")
        if d.environment:
            parts.append(_count(len(d.environment), "environment entry", "environment entries"))
        own = [u.label for u in d.upstream if u.differs]
        if own:
            parts.append(f"its own upstream {', '.join(own)}")
        out = [f"{head}: {', '.join(parts)}"]
        out += [f"  {c.text()}" for c in d.config[:SHOWN_UPSTREAM_FIELDS]]
        if len(d.config) > SHOWN_UPSTREAM_FIELDS:
            out.append(f"  ... {len(d.config) - SHOWN_UPSTREAM_FIELDS} more")
        return [*out, f"  (labspec diff {self.suggest})"]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"stage": self.label, "a": self.a, "b": self.b, "same": not self.differs}
        if self.detail is not None:
            d = self.detail
            out.update(config=[c.to_json() for c in d.config], code=d.code.to_json(),
                       environment=[c.to_json() for c in d.environment],
                       upstream=[u.to_json() for u in d.upstream])
        if self.note:
            out["note"] = self.note
        return out


@dataclass
class RunDiff:
    """Everything that differs between runs a and b, by section."""

    a: RunFiles
    b: RunFiles
    config: list[Change]
    code: CodeDiff
    environment: list[Change]
    environment_notes: list[str]
    upstream: list[UpstreamDiff]

    @property
    def differs(self) -> bool:
        return bool(self.config or self.code.differs or self.environment or any(u.differs for u in self.upstream))

    def sections(self) -> dict[str, list[str]]:
        """The text of each section, in order; empty sections are left out."""
        upstream = [line for u in self.upstream for line in u.lines()] \
            if any(u.differs for u in self.upstream) else []
        out = {"config": [c.text() for c in self.config], "code": self.code.lines(),
               "environment": [c.text() for c in self.environment] + self.environment_notes,
               "upstream": upstream}
        return {name: lines for name, lines in out.items() if lines}

    def text(self) -> str:
        exp_a, exp_b = (str(r.config.get("experiment", "?")) for r in (self.a, self.b))
        out = [f"a: {self.a.name} ({self.a.id})  {self.a.run_dir}", f"b: {self.b.name} ({self.b.id})  {self.b.run_dir}",
               f"experiment: {exp_a}" if exp_a == exp_b else f"experiment: {exp_a} -> {exp_b}"]
        for name, lines in self.sections().items():
            out += ["", name, *(f"  {line}" for line in lines)]
        if self.code.patch:
            out += ["", self.code.patch.rstrip("\n")]
        if not self.differs:
            out += ["", "no differences"]
        return "\n".join(out) + "\n"

    def to_json(self) -> dict[str, Any]:
        def run(r: RunFiles) -> dict[str, Any]:
            return {"id": r.id, "name": r.name, "experiment": r.config.get("experiment"), "run_dir": str(r.run_dir)}

        return {"a": run(self.a), "b": run(self.b), "differs": self.differs,
                "config": [c.to_json() for c in self.config], "code": self.code.to_json(),
                "environment": {"changes": [c.to_json() for c in self.environment],
                                "notes": self.environment_notes},
                "upstream": [u.to_json() for u in self.upstream]}


def diff_runs(a: RunFiles, b: RunFiles, runs: Runs, code_diff: bool = False, depth: int = 1) -> RunDiff:
    """Compare two runs; `depth` levels of upstream runs are compared too (1: their own
    config, code and environment; their upstream runs only by id)."""
    ups_a, ups_b = runs.upstream(a), runs.upstream(b)
    config = compare(comparable(a, ups_a), comparable(b, ups_b))
    env, env_notes = _environment(a, b)
    upstream: list[UpstreamDiff] = []
    by_label_b = {u.label: u for u in ups_b}
    labels = [u.label for u in ups_a] + [u.label for u in ups_b if u.label not in {x.label for x in ups_a}]
    by_label_a = {u.label: u for u in ups_a}
    for label in labels:
        ua, ub = by_label_a.get(label), by_label_b.get(label)
        pair = UpstreamDiff(label, ua.id if ua else None, ub.id if ub else None)
        if pair.differs and ua is not None and ub is not None:
            if ua.run is None or ub.run is None:
                pair.note = "a run dir was not found, so they were not compared"
            elif depth > 0:
                pair.detail = diff_runs(ua.run, ub.run, runs, depth=depth - 1)
                pair.suggest = f"{runs.ref(ua.run)} {runs.ref(ub.run)}"
            else:
                pair.note = f"compare them with `labspec diff {runs.ref(ua.run)} {runs.ref(ub.run)}`"
        upstream.append(pair)
    return RunDiff(a, b, config, _code(a, b, runs, code_diff), env, env_notes, upstream)


def comparable(run: RunFiles, upstream: list[Upstream]) -> dict[str, Any]:
    """The part of a run's config that can differ for a reason: run.json without its
    per-run fields, with deepspeed.json under `deepspeed`, and paths into its own run dir
    or an upstream run dir written as `<run dir>/...` or `<upstream STAGE>/...`."""
    config = {k: v for k, v in run.config.items() if k not in PER_RUN}
    for outer, inner in PER_RUN_NESTED:
        if isinstance(config.get(outer), dict):
            config[outer] = {k: v for k, v in config[outer].items() if k != inner}
    if run.deepspeed is not None:
        config["deepspeed"] = run.deepspeed
    prefixes = [(str(run.run_dir), "<run dir>"), (str(run.config.get("run_dir", run.run_dir)), "<run dir>")]
    for up in upstream:
        if up.run is not None:
            label = f"<upstream {up.label}>"
            prefixes += [(str(up.run.run_dir), label), (str(up.run.config.get("run_dir", up.run.run_dir)), label)]
    replaced: dict[str, Any] = _replace(config, sorted(set(prefixes), key=lambda p: -len(p[0])))
    return replaced


def compare(a: Any, b: Any, path: str = "") -> list[Change]:
    """Every leaf that differs between two JSON values, by dotted path. Mappings are compared
    key by key; lists of mappings or lists item by item when their lengths agree; other lists whole."""
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[Change] = []
        for key in sorted(set(a) | set(b), key=str):
            out += compare(a.get(key, ABSENT), b.get(key, ABSENT), f"{path}.{key}" if path else str(key))
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b) and \
            any(isinstance(x, (dict, list)) for x in a + b):
        return [c for i, (x, y) in enumerate(zip(a, b, strict=True)) for c in compare(x, y, f"{path}.{i}")]
    if a == b and isinstance(a, bool) == isinstance(b, bool):
        return []
    return [Change(path or "(value)", a, b)]


def _environment(a: RunFiles, b: RunFiles) -> tuple[list[Change], list[str]]:
    missing = [side for side, r in (("a", a), ("b", b)) if r.environment is None]
    if missing and a.run_dir != b.run_dir:
        who = "either run" if len(missing) == 2 else f"run {missing[0]}"
        return [], [f"not recorded for {who} (environment.json is written when a run starts)"]

    def fields(env: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in env.items() if k not in ("recorded_at", "attempt", "code")}  # code: its own section

    return compare(fields(a.environment or {}), fields(b.environment or {})), []


def _code(a: RunFiles, b: RunFiles, runs: Runs, code_diff: bool) -> CodeDiff:
    (id_a, dir_a), (id_b, dir_b) = runs.code_dir(a), runs.code_dir(b)
    out = CodeDiff(id_a, id_b)
    if (id_a is not None and id_a == id_b) or a.run_dir == b.run_dir:
        return out  # content-addressed: the same id is the same files
    unrecorded = [side for side, code_id in (("a", id_a), ("b", id_b)) if code_id is None]
    if unrecorded:
        who = "either run" if len(unrecorded) == 2 else f"run {unrecorded[0]}"
        out.notes.append(f"no code snapshot recorded for {who} (provenance.json names none)")
    else:
        out.changes.append(Change("snapshot", id_a, id_b))
    manifests: list[dict[str, Any] | None] = []
    for side, code_id, where in (("a", id_a, dir_a), ("b", id_b, dir_b)):
        manifest = read_object(where / MANIFEST) if where is not None else None
        if code_id is not None and manifest is None:
            out.notes.append(f"the code snapshot {code_id} of run {side} is not at {where} (moved or deleted?), "
                             "so its files were not compared")
        manifests.append(manifest)
    man_a, man_b = manifests
    compared = man_a is not None and man_b is not None
    if man_a is not None and man_b is not None:
        state_a, state_b = _git(man_a), _git(man_b)
        files_a, files_b = _files(man_a), _files(man_b)
        out.added = sorted(set(files_b) - set(files_a))
        out.removed = sorted(set(files_a) - set(files_b))
        out.changed = sorted(n for n in set(files_a) & set(files_b) if files_a[n] != files_b[n])
        if code_diff and dir_a is not None and dir_b is not None:
            out.patch = _patch(dir_a, dir_b, out.added + out.removed + out.changed)
    else:
        state_a, state_b = _git(_provenance_code(a)), _git(_provenance_code(b))
    out.changes += compare(state_a, state_b)
    if not out.differs and not compared and state_a.get("commit") and (state_a.get("dirty") or state_b.get("dirty")):
        out.notes.append(f"both from commit {str(state_a['commit'])[:12]}, with uncommitted changes that may differ")
    return out


def _provenance_code(run: RunFiles) -> dict[str, Any]:
    """Commit and dirty flag from provenance.json: its code entry, else its git fields."""
    prov = run.provenance or {}
    code = prov.get("code")
    if isinstance(code, dict) and "commit" in code:
        return code
    return {"commit": prov.get("git_commit"), "dirty": prov.get("git_dirty")}


def _git(source: dict[str, Any]) -> dict[str, Any]:
    return {"commit": source.get("commit"), "dirty": source.get("dirty")}


def _files(manifest: dict[str, Any]) -> dict[str, str]:
    files = manifest.get("files")
    return {str(k): str(v) for k, v in files.items()} if isinstance(files, dict) else {}


def _patch(dir_a: Path, dir_b: Path, names: list[str]) -> str:
    """A unified diff of `names` between two snapshot dirs (a file one side lacks is empty there)."""
    parts: list[str] = []
    for name in sorted(names):
        texts = []
        for where in (dir_a, dir_b):
            path = where / name
            try:
                texts.append(path.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True))
            except FileNotFoundError:
                texts.append([])
            except OSError as exc:
                texts.append([f"(unreadable: {exc.strerror})\n"])
        lines = difflib.unified_diff(texts[0], texts[1], f"a/{name}", f"b/{name}")
        parts += [line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines]
    return "".join(parts)


def _replace(value: Any, prefixes: list[tuple[str, str]]) -> Any:
    if isinstance(value, dict):
        return {k: _replace(v, prefixes) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace(v, prefixes) for v in value]
    if isinstance(value, str):
        for prefix, label in prefixes:
            if value == prefix or value.startswith(prefix.rstrip("/") + "/"):
                return label + value[len(prefix.rstrip("/")):]
    return value


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, str):
        yield value


def _run_with_id(run_dir: Path, run_id: str) -> RunFiles | None:
    config = read_object(run_dir / "run.json")
    if config is None or config.get("run_id") != run_id:
        return None
    return read_run(run_dir)


def _with_record(run: RunFiles, rec: RunRecord) -> RunFiles:
    return RunFiles(run.run_dir, run.config, run.deepspeed, run.provenance, run.environment, rec)


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def _show(value: Any) -> str:
    if value is ABSENT:
        return "(absent)"
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= WIDTH else text[:WIDTH - 3] + "..."
