"""Preflight: before anything is submitted, every unit of a launch is checked against what the
cluster has. A spec that asks for more than its partition offers is refused at once, with the
spec's line and both figures, instead of by sbatch halfway through a plan ("Requested node
configuration is not available") or by a job that waits in the queue forever.

The cluster is read once per launch: one sinfo call (`cluster.read_cluster`), plus one
sacctmgr call only when a spec names an account or QOS. A unit's request is taken from the
sbatch parameters the executor would submit (`SlurmExecutor.parameters`), so the check sees
what sbatch would be asked: per node, tasks per node x cpus_per_task CPUs, --mem and
--gpus-per-node.

What is checked, against what:
- the partition (the default one when the spec names none) exists and is up;
- nodes, CPUs, memory, GPUs and the constraint's features, against the *configured* hardware
  of the partition's nodes: at least `nodes` of them must have all of it. GPUs are counted by
  type from the nodes' gres; a request names a type only as --gpus-per-node=TYPE:N (specs
  have no GPU-type field yet: a cluster that types its GPUs as node features is reached
  through `resources.constraint`, checked against those features). A node that is down or
  drained counts: it is the partition's hardware and it comes back. When fewer of the
  fitting nodes than the request needs are usable now, the launch goes on with a warning
  that its runs will wait;
- the time against the partition's MaxTime and the node count against its MaxNodes;
- the account and QOS against the user's associations; when sacctmgr cannot answer, a
  warning says so and sbatch has the last word.

A problem is reported as `SPEC:LINE: field: what the spec asks; what the partition offers`
at the place that sets the field: the stage's `stages.<type>.resources.<field>`, else the
top-level `resources.<field>` (a sweep line when a sweep varies it, `override -o ...` for a
command-line override). A field left at its default is cited as `resources.<field>` at the
spec's `resources:` line (else its first line) and said to be the default. The
runs of a stage that share a problem make one line, with their count.
"""

from __future__ import annotations

import os
import pwd
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from launch.executors.slurm.arrays import Unit, group
from launch.executors.slurm.cluster import (
    Association,
    Cluster,
    ClusterUnreadable,
    Node,
    Partition,
    read_associations,
    read_cluster,
)
from specs.errors import LabspecError, Problem
from specs.paths import join
from specs.units import format_time, parse_mem_mb

if TYPE_CHECKING:
    from compiler.plan import Run
    from specs.loader import LoadedSpec

Log = Callable[[str], None]
LAUNCH_HINT = "pass --no-preflight to launch without checking the spec against the cluster"


class ClusterMismatch(LabspecError):
    """The cluster cannot run what a spec asks; nothing was submitted."""


# --- one unit's request and what a partition makes of it -----------------------------


@dataclass(frozen=True)
class Request:
    """What one sbatch call asks: of each of its nodes, and of the partition."""

    nodes: int
    tasks_per_node: int
    cpus_per_task: int
    mem_mb: int | None
    gpus: int
    gpu_type: str | None
    time_min: int
    partition: str | None
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None

    @property
    def cpus(self) -> int:
        """CPUs per node: SLURM places tasks per node x cpus per task on each node."""
        return self.tasks_per_node * self.cpus_per_task

    @classmethod
    def of(cls, params: dict[str, Any]) -> Request:
        """The request in the executor's sbatch parameters (submitit's names)."""
        gpu_type, gpus = _gpus(params.get("gpus_per_node", 0))
        mem = params.get("mem")
        return cls(nodes=int(params["nodes"]), tasks_per_node=int(params.get("ntasks_per_node", 1)),
                   cpus_per_task=int(params.get("cpus_per_task", 1)),
                   mem_mb=parse_mem_mb(mem) if mem else None, gpus=gpus, gpu_type=gpu_type,
                   time_min=int(params["time"]), partition=params.get("partition"), account=params.get("account"),
                   qos=params.get("qos"), constraint=params.get("constraint"))

    def summary(self) -> str:
        """The request in one phrase, for a "fits" line or a message."""
        mem = f"{self.mem_mb} MB" if self.mem_mb else "default memory"
        gpus = _n(self.gpus, f"{self.gpu_type} GPU" if self.gpu_type else "GPU")
        return f"{_n(self.nodes, 'node')} x {_n(self.cpus, 'CPU')}, {mem}, {gpus}, {format_time(self.time_min)}"


def _gpus(value: int | str) -> tuple[str | None, int]:
    """--gpus-per-node as submitit takes it: a count, or "type:count"."""
    if isinstance(value, str) and ":" in value:
        gpu_type, _, count = value.rpartition(":")
        return gpu_type, int(count)
    return None, int(value or 0)


@dataclass(frozen=True)
class Finding:
    """One thing a partition cannot give: the resources field it comes from ("" for the
    request as a whole), what the spec asks and what the partition offers."""

    field: str
    asks: str
    offers: str


@dataclass
class Verdict:
    """A request against the cluster: the partition it goes to (None: there is none), what
    does not fit, and what fits but will wait."""

    partition: Partition | None
    findings: list[Finding] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def check(cluster: Cluster, req: Request) -> Verdict:
    """Everything wrong with `req` on this cluster at once (accounts aside: `check_accounts`)."""
    part, findings = _partition(cluster, req)
    if part is None:
        return Verdict(None, findings)
    findings += _limits(part, req) + _hardware(part, req)
    return Verdict(part, findings, [] if findings else _waits(part, req))


def _label(part: Partition, req: Request) -> str:
    """The partition as the request reached it: by name, or as the default."""
    return f"partition {part.name}" if req.partition else f"the default partition {part.name}"


def _n(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


AVAILABILITY = {"down": "it is down: its jobs wait in the queue until it is brought up",
                "drain": "it is draining: it takes no new jobs",
                "inact": "it is inactive: it takes no jobs"}


def _partition(cluster: Cluster, req: Request) -> tuple[Partition | None, list[Finding]]:
    """The partition the request goes to, or why there is none usable."""
    if req.partition is None:
        part = cluster.default
        if part is None:
            return None, [Finding("partition", "names no partition",
                                  f"this cluster has no default partition (it has: {cluster.names()})")]
    elif (part := cluster.partitions.get(req.partition)) is None:
        return None, [Finding("partition", f"asks partition {req.partition}",
                              f"this cluster has no such partition (it has: {cluster.names()})")]
    if part.up:
        return part, []
    state = AVAILABILITY.get(part.availability, f"it is {part.availability}")
    return part, [Finding("partition", f"asks {_label(part, req)}", state)]


def _limits(part: Partition, req: Request) -> list[Finding]:
    """The partition's own limits: MaxTime, MaxNodes and how many nodes it has."""
    out = []
    if part.max_time_s is not None and req.time_min * 60 > part.max_time_s:
        out.append(Finding("time", f"asks {format_time(req.time_min)}",
                           f"{_label(part, req)}'s MaxTime is {_seconds(part.max_time_s)}"))
    if part.max_nodes is not None and req.nodes > part.max_nodes:
        out.append(Finding("nodes", f"asks {req.nodes} nodes",
                           f"{_label(part, req)}'s MaxNodes (per job) is {part.max_nodes}"))
    elif req.nodes > len(part.nodes):
        out.append(Finding("nodes", f"asks {req.nodes} nodes", f"{_label(part, req)} has {len(part.nodes)}"))
    return out


def _seconds(seconds: int) -> str:
    """A limit in SLURM's D-HH:MM:SS, to compare with a spec's time at a glance."""
    whole, rest = divmod(seconds, 60)
    return format_time(whole) if not rest else f"{format_time(whole)[:-2]}{rest:02d}"


@dataclass(frozen=True)
class _Need:
    """One per-node need: the field it comes from, how it is asked, which nodes meet it, and
    what the partition's best nodes have (for the message)."""

    field: str
    asks: str
    fits: Callable[[Node], bool]
    best: Callable[[list[Node]], str]


def _needs(req: Request) -> list[_Need]:
    """What each of the request's nodes must have."""
    tasks = f" ({req.tasks_per_node} tasks x {req.cpus_per_task})" if req.tasks_per_node > 1 else ""
    needs = [_Need("cpus_per_task", f"asks {_n(req.cpus, 'CPU')} per node{tasks}", lambda n: n.cpus >= req.cpus,
                   lambda ns: f"have at most {max(n.cpus for n in ns)}")]
    if req.mem_mb:
        mem = req.mem_mb
        needs.append(_Need("mem", f"asks {mem} MB of memory per node", lambda n: n.mem_mb >= mem,
                           lambda ns: f"have at most {max(n.mem_mb for n in ns)} MB"))
    if req.gpus:
        kind = f"{req.gpu_type} GPU" if req.gpu_type else "GPU"
        needs.append(_Need("gpus_per_node", f"asks {_n(req.gpus, kind)} per node",
                           lambda n: n.gpu_count(req.gpu_type) >= req.gpus, lambda ns: _best_gpus(ns, req.gpu_type)))
    alternatives = _features(req.constraint)
    if alternatives is not None:
        needs.append(_Need("constraint", f"asks nodes with features {req.constraint}",
                           lambda n: any(alt <= n.features for alt in alternatives),
                           lambda ns: f"have features {', '.join(sorted(set().union(*(n.features for n in ns))))}"
                           if any(n.features for n in ns) else "have no features"))
    return needs


def _best_gpus(nodes: list[Node], gpu_type: str | None) -> str:
    most = max(n.gpu_count(gpu_type) for n in nodes)
    types = sorted({t or "untyped" for n in nodes for t in n.gpus})
    if not types:
        return "have no GPUs"
    if gpu_type is None:
        return f"have at most {most}"
    return f"have at most {most} of type {gpu_type} (their GPU types: {', '.join(types)})"


def _features(constraint: str | None) -> list[frozenset[str]] | None:
    """A constraint as alternatives of features a node must all have ("a&b" -> [{a, b}],
    "a|b" -> [{a}, {b}]); None (not checked: sbatch judges) for none, and for SLURM's richer
    forms (counts, brackets, & mixed with |)."""
    if not constraint or re.search(r"[\[\]()*!]", constraint) or ("|" in constraint and "&" in constraint):
        return None
    return [frozenset(f.strip() for f in alt.split("&")) for alt in constraint.split("|")]


def _hardware(part: Partition, req: Request) -> list[Finding]:
    """Each per-node need against the configured hardware of the partition's nodes, then all
    of them together (the nodes with the most CPUs may not be those with GPUs)."""
    nodes, wanted = part.nodes, min(req.nodes, len(part.nodes))
    out = []
    for need in _needs(req):
        ok = sum(need.fits(n) for n in nodes)
        if ok >= wanted:
            continue
        if ok == 0:
            out.append(Finding(need.field, need.asks, f"{_label(part, req)}'s nodes {need.best(nodes)}"))
        else:
            out.append(Finding(need.field, f"{need.asks} on {req.nodes} nodes",
                               f"only {ok} of {_label(part, req)}'s nodes have that (the others "
                               f"{need.best([n for n in nodes if not need.fits(n)])})"))
    if not out and wanted and len(_fitting(part, req)) < wanted:
        out.append(Finding("", f"asks {req.summary()}",
                           f"only {len(_fitting(part, req))} of {_label(part, req)}'s nodes have all of it at once"))
    return out


def _fitting(part: Partition, req: Request) -> list[Node]:
    needs = _needs(req)
    return [n for n in part.nodes if all(need.fits(n) for need in needs)]


def _waits(part: Partition, req: Request) -> list[str]:
    """A request that fits the partition's hardware but not what is usable now: it will wait."""
    fitting = _fitting(part, req)
    usable = [n for n in fitting if n.usable]
    if len(usable) >= req.nodes:
        return []
    down = ", ".join(f"{n.name} {n.state}" for n in fitting if not n.usable)
    return [f"{_label(part, req)}: {len(usable)} of its nodes that fit ({req.summary()}) can run jobs now, "
            f"{req.nodes} needed ({down}); the runs will wait in the queue until enough come back"]


def check_accounts(assocs: list[Association], req: Request, part: Partition) -> list[Finding]:
    """The account and QOS against the user's associations (those for every partition, or
    for this one)."""
    here = [a for a in assocs if a.partition in ("", part.name)]
    out = []
    if req.account and not any(a.account == req.account for a in here):
        yours = ", ".join(sorted({a.account for a in here})) or "none"
        out.append(Finding("account", f"asks account {req.account}",
                           f"you may charge only {yours} on {_label(part, req)} (sacctmgr)"))
    if req.qos:
        rows = [a for a in here if req.account is None or a.account == req.account]
        allowed = frozenset().union(*(a.qos for a in rows))
        if allowed and req.qos not in allowed:
            whose = f"account {req.account}" if req.account else "your accounts"
            out.append(Finding("qos", f"asks QOS {req.qos}",
                               f"{whose} allow(s) only {', '.join(sorted(allowed))} (sacctmgr)"))
    return out


# --- where in the spec a field is set -------------------------------------------------


def locate(loaded: LoadedSpec | None, run: Run, name: str) -> tuple[Problem, bool]:
    """Where to cite resources field `name` ("" for the section) of `run`, as a Problem
    without a message, and whether the spec sets it. A default is cited at the spec's
    `resources:` line, else at its first line (none for a Python spec)."""
    if loaded is None:  # a rerun: no spec to point into
        return Problem(f"run {run.name} ({run.id})", None, _dotted(("resources",), name), ""), True
    doc = loaded.document
    for section in (("stages", run.stage_type, "resources"), ("resources",)):
        path = (*section, name) if name else section
        if (swept := _swept_at(loaded, run, join(path))) is not None:
            return Problem(*swept, join(path), ""), True
        if _written(doc.data, path):
            return Problem(*doc.locate(path), join(path), ""), True
    return Problem(*doc.locate(("resources",)), _dotted(("resources",), name), ""), False


def _dotted(section: tuple[str, ...], name: str) -> str:
    return join((*section, name) if name else section)


def _written(data: Any, path: tuple[str, ...]) -> bool:
    for part in path:
        if not isinstance(data, dict) or part not in data:
            return False
        data = data[part]
    return True


def _swept_at(loaded: LoadedSpec, run: Run, dotted: str) -> tuple[str, int | None] | None:
    """The sweep line that sets `dotted` (or a section above it) for this run, if one does."""
    sweep = loaded.experiment.sweep
    for key in run.axes:
        if dotted != key and not dotted.startswith(key + "."):
            continue
        if key in sweep.grid:
            return loaded.document.locate(("sweep", "grid", key))
        for i, zipped in enumerate(sweep.zip):
            if key in zipped:
                return loaded.document.locate(("sweep", "zip", i, key))
    return None


# --- a launch's check -----------------------------------------------------------------


@dataclass
class Review:
    """What a check found: problem lines (grouped), where each stage fits, and warnings."""

    problems: list[str] = field(default_factory=list)
    fits: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # partitions the cluster does not have


class Preflight:
    """One launch's check: the cluster is read on first use (one sinfo call) and every later
    check of the same launch (more specs, the executor's own check before sbatch) uses that
    reading; the user's associations likewise, and only when a request names an account or QOS."""

    def __init__(self, read: Callable[[], Cluster] = read_cluster,
                 read_assocs: Callable[[str], list[Association]] = read_associations,
                 unreadable_hint: str = LAUNCH_HINT) -> None:
        self._read, self._read_assocs, self.hint = read, read_assocs, unreadable_hint
        self._cluster: Cluster | None = None
        self._assocs: list[Association] | str | None = None  # a str: why they cannot be read
        self._said: set[str] = set()

    def cluster(self) -> Cluster:
        if self._cluster is None:
            try:
                self._cluster = self._read()
            except ClusterUnreadable as exc:
                hint = f"; {self.hint}" if self.hint else ""
                raise ClusterUnreadable(f"could not read the cluster's partitions and nodes: {exc}. Nothing was "
                                        f"submitted{hint}") from None
        return self._cluster

    def associations(self) -> list[Association] | str:
        """The user's associations, or why they cannot be checked."""
        if self._assocs is None:
            user = pwd.getpwuid(os.getuid()).pw_name
            try:
                self._assocs = self._read_assocs(user) or f"sacctmgr lists no association for user {user}"
            except ClusterUnreadable as exc:
                self._assocs = str(exc)
        return self._assocs

    def review(self, runs: list[Run], loaded: LoadedSpec | None, request_of: Callable[[Unit], Request]) -> Review:
        """Every unit of `runs` against the cluster; a unit's runs share its request."""
        review = Review()
        problems: dict[Problem, list[Run]] = {}
        fits: dict[tuple[str, str, str], int] = {}
        for unit in group(runs):
            req = request_of(unit)
            verdict = check(self.cluster(), req)
            findings = verdict.findings + self._account_findings(req, verdict, review)
            review.warnings += [w for w in verdict.warnings if w not in review.warnings]
            if req.partition and verdict.partition is None and req.partition not in review.missing:
                review.missing.append(req.partition)
            for run in unit.runs:
                for finding in findings:
                    problems.setdefault(_located(loaded, run, finding), []).append(run)
            if not findings and verdict.partition is not None:
                where = (unit.runs[0].stage_type, _label(verdict.partition, req), req.summary())
                fits[where] = fits.get(where, 0) + len(unit.runs)
        in_order = sorted(problems.items(), key=lambda item: (item[0].source, item[0].line or 0))  # as in the file
        review.problems = [str(Problem(p.source, p.line, p.path, f"{p.message} ({_runs(rs)})")) for p, rs in in_order]
        review.fits = [f"stage {stage}: {_n(n, 'run')} fit{'s' if n == 1 else ''} {part} (each {asks})"
                       for (stage, part, asks), n in fits.items()]
        return review

    def _account_findings(self, req: Request, verdict: Verdict, review: Review) -> list[Finding]:
        if not (req.account or req.qos) or verdict.partition is None:
            return []
        assocs = self.associations()
        if isinstance(assocs, str):
            warning = f"account/QOS not checked ({assocs}); sbatch will judge them"
            if warning not in review.warnings:
                review.warnings.append(warning)
            return []
        return check_accounts(assocs, req, verdict.partition)

    def require(self, runs: list[Run], loaded: LoadedSpec | None, request_of: Callable[[Unit], Request],
                log: Log) -> list[str]:
        """Refuse (ClusterMismatch, every problem at once) runs the cluster cannot take; else
        the lines saying where they fit. Warnings and fit lines are logged once per launch."""
        if not runs:
            return []
        review = self.review(runs, loaded, request_of)
        for line in [f"warning: {w}" for w in review.warnings] + ([] if review.problems else review.fits):
            if line not in self._said:
                self._said.add(line)
                log(line)
        if review.problems:
            raise ClusterMismatch(_refusal(review))
        return review.fits


def _located(loaded: LoadedSpec | None, run: Run, finding: Finding) -> Problem:
    """A finding of one run as a spec problem: at the field's line, with both figures."""
    where, written = locate(loaded, run, finding.field)
    default = "" if written else " (not set: the default)"
    return Problem(where.source, where.line, where.path, f"{finding.asks}{default}; {finding.offers}")


def _runs(runs: list[Run]) -> str:
    """Which runs share a problem: the run, or how many runs of which stage(s)."""
    if len(runs) == 1:
        return f"run {runs[0].name}"
    stages = sorted({r.stage_type for r in runs})
    return f"{len(runs)} runs of stage{'s' if len(stages) > 1 else ''} {', '.join(stages)}"


def _refusal(review: Review) -> str:
    n = len(review.problems)
    lines = [f"the cluster cannot run what was asked ({n} problem{'s' if n > 1 else ''}); nothing was submitted:",
             *(f"  {p}" for p in review.problems)]
    if review.missing:
        lines.append(f"partition(s) {', '.join(review.missing)} do not exist on this cluster; set "
                     "resources.partition in the spec to one it has")
    lines.append("(checked against sinfo; `labspec launch --no-preflight` submits without this check, "
                 "for a cluster whose sinfo does not show all it has)")
    return "\n".join(lines)
