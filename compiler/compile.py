"""compile(spec) -> Plan: grid points x the kind's stages = concrete runs.

Three passes:
1. for each grid point, validate the point, ask the kind for its stage nodes, resolve
   each node's resources/training/DeepSpeed config and hash it into a run id (upstream
   outputs enter the hash as the upstream run's id, so a change propagates downstream).
   Nodes with equal ids are one run: sweeping DPO's beta shares the SFT run.
2. name each run from the swept values it depends on.
3. turn references into paths (run dirs are deterministic), write run.json contents,
   the argv and the launch script.

Pure: no I/O except reading a local model's config.json for the memory estimate.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import ValidationError

from compiler import backends, memory, render
from compiler.deepspeed import derive
from compiler.ids import run_id
from compiler.kinds import KIND_COMPILERS
from compiler.nodes import StageNode, parse_ref
from compiler.plan import Plan, Run
from compiler.rehearsal import MINUTES as REHEARSAL_MINUTES
from compiler.rehearsal import SHARDS as REHEARSAL_SHARDS
from compiler.rehearsal import SUFFIX as REHEARSAL_SUFFIX
from compiler.rehearsal import Rehearsal
from compiler.sweep import labels, points, varying_paths
from specs.base import ExperimentBase
from specs.errors import CompileError
from specs.layout import LABSPEC_DIR, snapshot_dir
from specs.loader import Document, LoadedSpec
from specs.sections import ResourcesSpec, TrainingSpec
from specs.tasks import CONFIG_FORMAT, TASK_CONFIGS, Coordinates, RunConfig
from specs.units import format_time, parse_mem_mb
from specs.version import VERSION

MAX_NAME = 120
OPERATIONAL = {"stop_check_steps"}  # training fields that change how a run is watched, not what it computes


@dataclass
class _Pending:
    node: StageNode
    config: dict[str, Any]  # the task config, dumped, with refs
    exp: ExperimentBase
    resources: ResourcesSpec
    training: TrainingSpec | None
    deepspeed: dict[str, Any] | None
    depends_on: tuple[str, ...]
    axes: dict[str, Any]
    upstream: dict[str, str] = field(default_factory=dict)  # node name -> run id, in its point
    env: dict[str, str] = field(default_factory=dict)  # exported in its launch script
    points: list[dict[str, Any]] = field(default_factory=list)  # every grid point it belongs to


def compile(spec: LoadedSpec | ExperimentBase, *, output_root: str | None = None,
            python: str | None = None, base_dir: str | None = None, rehearsal: Rehearsal | None = None,
            code_id: str | None = None) -> Plan:
    """Compile a loaded spec (or a validated experiment) into a Plan; with `rehearsal`, the
    same plan rehearsed (`compiler.rehearsal`); with `code_id`, launch scripts that run the
    code snapshot of that id (`launch.snapshot`) instead of the installed code.

    Relative paths in the spec (output_root, data, models) are relative to `base_dir`,
    the directory labspec runs in by default; run.json records it for the runtime.
    """
    loaded = spec if isinstance(spec, LoadedSpec) else _wrap(spec)
    base = loaded.experiment
    base_dir = os.path.abspath(base_dir or os.getcwd())
    root = os.path.normpath(os.path.join(base_dir, output_root or base.output_root))
    interpreter = python or base.python or sys.executable
    name = base.name + REHEARSAL_SUFFIX if rehearsal is not None else base.name
    if rehearsal is not None:
        rehearsal.root, rehearsal.base_dir, rehearsal.kind = os.path.join(root, LABSPEC_DIR, "rehearsal"), base_dir, \
            base.kind

    if base.sweep.size() > base.sweep.max_points:  # validated specs are refused earlier, with the factors
        raise CompileError(f"the sweep has {base.sweep.size():,} grid points, more than sweep.max_points "
                           f"({base.sweep.max_points:,})")
    pending: dict[str, _Pending] = {}
    warnings: list[str] = []
    for point in points(base.sweep):
        exp = loaded.with_values(point, _label(point)) if point else base
        _expand_point(exp, point, pending, warnings, name, rehearsal)
    if rehearsal is not None:
        pending = _with_assets(base, name, pending, rehearsal)
        warnings = [*rehearsal.notes(), *(w for w in warnings if "model states need" not in w)]

    varying = varying_paths(base.sweep)
    for path in varying:
        if not any(path in p.axes for p in pending.values()):
            warnings.append(f"sweeping {path} changes no run (every value compiles to the same runs); "
                            "drop it from the sweep or check the field it depends on")
    names = _names(pending, varying)
    dirs = {rid: os.path.join(root, name, f"{names[rid]}-{rid}") for rid in pending}
    tasks = {rid: p.node.task for rid, p in pending.items()}
    code_dir = snapshot_dir(root, code_id) if code_id else None
    sessions = hparams_sessions(pending, varying, name)
    runs = tuple(_finish(rid, p, names[rid], dirs, tasks, interpreter, base_dir, name, code_dir, sessions[rid])
                 for rid, p in pending.items())
    return Plan(name, base.kind, root, runs, tuple(dict.fromkeys(warnings)), rehearsal is not None)


def _with_assets(exp: ExperimentBase, name: str, pending: dict[str, _Pending],
                 rehearsal: Rehearsal) -> dict[str, _Pending]:
    """The rehearsal's own run (building its models and data) first; every run waits for it."""
    node = StageNode("rehearsal_assets", "rehearsal", rehearsal.assets(), role="rehearsal", launcher="python")
    res = ResourcesSpec(nodes=1, gpus_per_node=0, procs_per_node=1, cpus_per_task=2, time=REHEARSAL_MINUTES,
                        partition=rehearsal.partition if rehearsal.executor == "slurm" else None)
    config = node.config.model_dump(mode="json")
    rid = run_id({"format": CONFIG_FORMAT, "experiment": name, "stage": node.name, "task": node.task,
                  "config": config})
    out = {rid: _Pending(node, config, exp, res, None, None, (), {}, {})}
    for key, p in pending.items():
        p.depends_on = (rid, *p.depends_on)
        out[key] = p
    return out


def _wrap(exp: ExperimentBase) -> LoadedSpec:
    data = exp.model_dump(mode="python", exclude_unset=True)
    data["kind"] = exp.kind
    return LoadedSpec(exp, Document(data, {}, ["<experiment>"]), "<experiment>", "")


def _label(point: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in point.items())


def _expand_point(exp: ExperimentBase, point: dict[str, Any], pending: dict[str, _Pending],
                  warnings: list[str], name: str, rehearsal: Rehearsal | None) -> None:
    try:
        nodes = KIND_COMPILERS[exp.kind](exp)
    except ValidationError as exc:  # a combination of values no stage can take
        first = exc.errors(include_url=False)[0]
        raise CompileError(f"{_label(point) or exp.name}: {first['msg']} ({'.'.join(map(str, first['loc']))})"
                           ) from None
    local: dict[str, str] = {}
    for node in nodes:
        if node.type not in exp.stage_types:
            raise CompileError(f"internal: kind {exp.kind} made a node of unknown type {node.type!r}")
        trains = exp.stage_types[node.type]
        res = exp.stage_resources(node.type)
        if node.resources_update:
            res = res.model_copy(update=node.resources_update)
        training = exp.stage_training(node.type) if trains else None
        if training is not None and node.training_update:
            training = training.model_copy(update=node.training_update)
        ds_spec = exp.stage_deepspeed(node.type)
        env = exp.stage_env(node.type)
        task_config = node.config
        if rehearsal is not None:
            node = replace(node, shards=min(node.shards, REHEARSAL_SHARDS))
            task_config = rehearsal.task(node.config)
            node = replace(node, config=task_config)  # the backends are checked on what will run
            env = {**env, **rehearsal.env(res, task_config)}
            res = rehearsal.resources(res, trains)
            training = rehearsal.training(training, res.world_size) if training is not None else None
            ds_spec = rehearsal.deepspeed(ds_spec)
        if res.gpus_per_node > 1:  # vLLM's tensor_parallel_size, where the spec left it, is the stage's GPUs
            task_config = backends.fit_to_gpus(task_config, res.gpus_per_node)  # type: ignore[assignment]
            node = replace(node, config=task_config)
        ds = derive(training, ds_spec, res.world_size) if training is not None and ds_spec.enabled else None
        config = task_config.model_dump(mode="json")
        identity = {
            "format": CONFIG_FORMAT,
            "experiment": name,  # another experiment's run lives elsewhere: another run
            "stage": node.name,
            "task": node.task,
            "config": _map_refs(config, _hashable_ref(local, node.name)),
            "seed": exp.seed,
            "world_size": res.world_size,
            "env": env,  # a variable can change what a run does
            "training": training.model_dump(mode="json", exclude=OPERATIONAL) if training is not None else None,
            "peft": exp.peft.model_dump(mode="json") if trains and exp.peft.enabled else None,
            "deepspeed": ds,
            "shards": node.shards,
        }
        rid = run_id(identity)
        deps = tuple(dict.fromkeys(local[stage] for stage, _ in _refs(config)))
        local[node.name] = rid
        if rid in pending:
            known = pending[rid]
            known.axes = {k: v for k, v in known.axes.items() if k in point and point[k] == v}
            known.points.append(dict(point))
            continue
        pending[rid] = _Pending(node, config, exp, res, training, ds, deps, dict(point), dict(local), env,
                                [dict(point)])
        if training is not None and rehearsal is None:
            _check_memory(exp, node, res, training, warnings)


def _map_refs(obj: Any, fn: Callable[[str, str], Any]) -> Any:
    """`obj` (a dumped config) with every ref replaced by fn(stage, output)."""
    if isinstance(obj, str):
        found = parse_ref(obj)
        return fn(*found) if found else obj
    if isinstance(obj, dict):
        return {k: _map_refs(v, fn) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_map_refs(v, fn) for v in obj]
    return obj


def _refs(obj: Any) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []

    def keep(stage: str, output: str) -> None:
        found.append((stage, output))

    _map_refs(obj, keep)
    return found


def _hashable_ref(local: dict[str, str], where: str) -> Callable[[str, str], Any]:
    """Refs as the upstream run's id, for hashing: an upstream change changes this id."""
    def swap(stage: str, output: str) -> Any:
        if stage not in local:
            raise CompileError(f"internal: stage {where!r} refers to {stage!r}, not built before it")
        return {"$ref": local[stage], "output": output}
    return swap


def _path_ref(local: dict[str, str], dirs: dict[str, str], tasks: dict[str, str]) -> Callable[[str, str], Any]:
    """Refs as the upstream output's path (run dirs are known at compile time)."""
    def resolve(stage: str, output: str) -> Any:
        upstream = local[stage]
        rel = TASK_CONFIGS[tasks[upstream]].all_outputs().get(output)
        if rel is None:
            raise CompileError(f"internal: task {tasks[upstream]!r} has no output {output!r}")
        return os.path.join(dirs[upstream], rel)
    return resolve


def _names(pending: dict[str, _Pending], swept: list[str]) -> dict[str, str]:
    lab = labels(swept)
    out = {}
    for rid, p in pending.items():
        parts = [p.node.name] + [f"{lab[k]}={_fmt(v)}" for k, v in p.axes.items() if k in lab]
        name = re.sub(r"[^A-Za-z0-9._=+-]+", "_", "__".join(parts))
        out[rid] = name[:MAX_NAME]
    return out


def hparams_sessions(pending: dict[str, _Pending], varying: list[str], experiment: str
                     ) -> dict[str, dict[str, Any]]:
    """Each run's HParams rows (`HParamsSession`s) and the prefix of its figures there.

    A row is a grid point, named and keyed by the swept values that vary (a key swept over
    one value is not a comparison); in an iterative route, a row is one model of a point
    (`model` = t + 1 for iteration t's runs, which make model t + 1), so figures of the
    same role line up across iterations under the role's name. Elsewhere, and wherever
    two runs of a row share a role, figures go under the stage's name."""
    lab = labels(varying)
    iterative = any(p.node.coordinates.get("iteration") is not None for p in pending.values())
    rows: dict[str, list[dict[str, Any]]] = {}
    for rid, p in pending.items():
        it, index = p.node.coordinates.get("iteration"), p.node.coordinates.get("model_index")
        model = it + 1 if it is not None else (index or 0)
        found: dict[str, dict[str, Any]] = {}
        for point in p.points:
            hparams: dict[str, Any] = {k: point[k] for k in varying if k in point}
            if iterative:
                hparams["model"] = model
            parts = [f"{lab.get(k, k)}={_fmt(v)}" for k, v in hparams.items()]
            name = re.sub(r"[^A-Za-z0-9._=+-]+", "_", "__".join(parts) or experiment)[:MAX_NAME]
            found[name] = {"name": name, "hparams": hparams or {"experiment": experiment}}
        rows[rid] = list(found.values())
    roles: dict[tuple[str, str], int] = {}
    for rid, p in pending.items():
        for row in rows[rid]:
            roles[row["name"], p.node.role] = roles.get((row["name"], p.node.role), 0) + 1
    out = {}
    for rid, p in pending.items():
        unique = iterative and all(roles[row["name"], p.node.role] == 1 for row in rows[rid])
        out[rid] = {"sessions": rows[rid], "metric_prefix": f"{p.node.role if unique else p.node.name}/"}
    return out


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "-".join(_fmt(v) for v in value)
    if isinstance(value, dict):
        return "-".join(f"{k}-{_fmt(v)}" for k, v in value.items())
    return str(value)


def _check_memory(exp: ExperimentBase, node: StageNode, res: ResourcesSpec, training: TrainingSpec,
                  warnings: list[str]) -> None:
    if res.gpu_mem_gb is None or exp.model is None:
        return
    params = exp.model.num_parameters or memory.params_from_config(exp.model.name_or_path)
    if params is None:
        return
    gpus = res.world_size  # data-parallel processes: what ZeRO shards over
    est = memory.training_states(params, training, exp.stage_deepspeed(node.type), gpus,
                                 lora=exp.peft.enabled, reference_model=node.task == "dpo")
    if est.total > res.gpu_mem_gb * 1e9:
        ds = exp.stage_deepspeed(node.type)
        warnings.append(
            f"stage {node.type!r}: model states need {est.describe()}, more than the "
            f"{res.gpu_mem_gb:g} GB of resources.gpu_mem_gb (ZeRO-{ds.zero_stage} over {gpus} GPUs); "
            "raise deepspeed.zero_stage, offload, enable peft, or add GPUs"
        )


def _resources(res: ResourcesSpec) -> dict[str, Any]:
    return {
        "nodes": res.nodes,
        "gpus_per_node": res.gpus_per_node,
        "procs_per_node": res.procs,
        "world_size": res.world_size,
        "cpus_per_task": res.cpus_per_task,
        "mem": res.mem,
        "mem_mb": parse_mem_mb(res.mem) if res.mem is not None else None,
        "time": format_time(res.minutes),
        "time_min": res.minutes,
        "partition": res.partition,
        "account": res.account,
        "qos": res.qos,
        "constraint": res.constraint,
        "gpu_mem_gb": res.gpu_mem_gb,
        "sbatch_extra": dict(res.sbatch_extra),
    }


def _command(launcher: str, python: str, res: ResourcesSpec, run_json: str) -> list[Any]:
    var = render.ShellVar
    if launcher == "torchrun":
        return [python, "-m", "runtime.torchrun", f"--nnodes={res.nodes}",
                f"--nproc-per-node={res.procs}", "--node-rank", var("NODE_RANK"),
                "--master-addr", var("MASTER_ADDR"), "--master-port", var("MASTER_PORT"),
                "-m", "runtime", run_json]
    if launcher == "deepspeed":
        return [python, "-m", "deepspeed.launcher.runner", "--num_nodes", str(res.nodes),
                "--num_gpus", str(res.procs), "--node_rank", var("NODE_RANK"),
                "--master_addr", var("MASTER_ADDR"), "--master_port", var("MASTER_PORT"),
                "--no_ssh", "--no_local_rank", "--module", "runtime", run_json]
    return [python, "-m", "runtime", run_json]


def _finish(rid: str, p: _Pending, name: str, dirs: dict[str, str], tasks: dict[str, str],
            python: str, base_dir: str, experiment: str, code_dir: str | None, hparams: dict[str, Any]) -> Run:
    exp, node, res = p.exp, p.node, p.resources
    run_dir = dirs[rid]
    task_config = _map_refs(p.config, _path_ref(p.upstream, dirs, tasks))
    launcher = node.launcher or exp.stage_launcher(node.type)
    run_json = os.path.join(run_dir, "run.json")
    coordinates = Coordinates(point=p.axes, role=node.role, **node.coordinates)
    config = RunConfig(
        labspec_version=VERSION, experiment=experiment, kind=exp.kind, run_id=rid, run_name=name, stage=node.name,
        stage_type=node.type, task=node.task, run_dir=run_dir,
        base_dir=base_dir,  # relative paths in task_config are relative to this
        seed=exp.seed, axes=p.axes, coordinates=coordinates, depends_on=list(p.depends_on),
        world_size=res.world_size, shards=node.shards, task_config=task_config,
        training=p.training, peft=exp.peft if p.training is not None and exp.peft.enabled else None,
        deepspeed_config=os.path.join(run_dir, "deepspeed.json") if p.deepspeed is not None else None,
        tensorboard={**exp.tensorboard.model_dump(), "log_dir": os.path.join(run_dir, "tb"),
                     **(hparams if exp.tensorboard.log_hparams else {})},
        outputs={k: os.path.join(run_dir, v) for k, v in TASK_CONFIGS[node.task].all_outputs().items()},
        paths={d: os.path.join(run_dir, d) for d in ("checkpoints", "outputs", "logs", "tb")},
    ).model_dump(mode="json")
    env = {**p.env, "LABSPEC_EXPERIMENT": experiment, "LABSPEC_RUN_ID": rid, "LABSPEC_RUN_DIR": run_dir}
    interpreter = exp.stage_python(node.type) or python
    backends.check(node.name, node.type, node.config, res, launcher, interpreter)
    argv = _command(launcher, interpreter, res, run_json)
    script = render.render(
        launcher,
        experiment=experiment, run_name=name, run_id=rid, stage=node.name,
        nodes=res.nodes, procs_per_node=res.procs, env=env, pass_env=exp.pass_env,
        run_dir=run_dir, command=argv, code_dir=code_dir,
    )
    shown = [f"${{{a}}}" if isinstance(a, render.ShellVar) else str(a) for a in argv]
    return Run(rid, name, node.name, node.type, node.task, p.depends_on, p.axes, run_dir,
               _resources(res), launcher, config, p.deepspeed, shown, env, script, node.shards,
               coordinates.model_dump(mode="json", exclude_none=True))
