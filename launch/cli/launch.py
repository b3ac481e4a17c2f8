"""`labspec launch SPEC...`: compile, then submit to SLURM (or run here), remembering
everything in the ledger. Idempotent: launching again submits only what is new."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable

from launch.cli_support import add_overrides, add_rehearsal, add_root, int_between


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("specs", nargs="*", metavar="SPEC", help="spec files (.yaml, or a .py you trust)")
    add_overrides(parser)
    parser.add_argument("--executor", choices=("auto", "slurm", "local"), default="auto",
                        help="auto: SLURM when its controller answers, else this machine (default)")
    parser.add_argument("--dry-run", action="store_true",
                        help="show exactly the batch scripts and launch scripts; submit nothing")
    parser.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    parser.add_argument("--force", action="store_true", help="resubmit runs that are pending, running or done")
    parser.add_argument("--retry-failed", action="store_true", help="resubmit runs that failed")
    parser.add_argument("--allow-dirty", action="store_true",
                        help="launch although the spec's repository has uncommitted changes (recorded)")
    parser.add_argument("--hold", action="store_true", help="submit held (release with scontrol release)")
    parser.add_argument("--no-preflight", action="store_true",
                        help="on SLURM: submit without first checking the runs against the cluster's partitions "
                        "(sinfo), for a cluster that hides its configuration")
    parser.add_argument("--jobs", type=int_between(1, 10_000, "a number of runs"), default=None, metavar="N",
                        help="local executor: at most N runs at once (default: as many as the machine's GPUs, "
                        "CPUs and memory hold, counted from each run's resources)")
    parser.add_argument("--array-parallelism", type=int_between(1, 100_000, "a number of tasks"), default=64,
                        metavar="N",
                        help="at most N tasks of one job array run at once (default 64)")
    parser.add_argument("--changed", nargs="?", const="HEAD", default=None, metavar="REV_RANGE",
                        help="launch the YAML specs added or modified in these commits (default: the last)")
    add_rehearsal(parser)
    parser.add_argument("--rerun", metavar="RUN",
                        help="run RUN again exactly (its config, launch script and code snapshot) in a new run dir")
    add_root(parser)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from launch import snapshot
    from launch.cli_support import confirm, load_and_compile, rehearsal_of
    from launch.executors import choose
    from launch.git import changed_specs, require_clean
    from launch.launcher import LaunchOptions, prepare, record
    from launch.ledger import Ledger
    from launch.summary import summary
    from specs.errors import LabspecError

    if args.rerun:
        if args.specs or args.changed is not None or args.rehearse or args.overrides:
            raise LabspecError("--rerun RUN reruns a run as it ran: name no spec, --changed, --rehearse or -o with it")
        return rerun(args, log)
    specs = list(args.specs)
    if args.changed is not None:
        specs += changed_specs(args.changed)
        if not specs:
            print(f"no labspec YAML spec was added or changed in {args.changed}", file=sys.stderr)
            return 0
    if not specs:
        raise LabspecError("name a spec to launch (or --changed [REV_RANGE])")

    if args.rehearse and args.force:
        raise LabspecError("--force resubmits runs that are pending, running or done, and a rehearsal never "
                           "touches runs it did not make: drop --force (--retry-failed reruns failed rehearsal "
                           "runs; to rehearse from scratch, remove the <name>.rehearsal folder)")
    executor = choose(args.executor, args.array_parallelism, args.hold, args.jobs, not args.no_preflight)
    code = snapshot.take()  # once: every spec of this launch runs the same code
    failures = 0

    for spec in specs:
        loaded, plan = load_and_compile(spec, args.overrides, rehearsal=rehearsal_of(args, executor.name),
                                        code_id=code.id)
        if not args.dry_run and not plan.rehearsal:  # a rehearsal comes before the commit
            require_clean(loaded.path, args.allow_dirty)
            snapshot.warn_if_dirty(code, loaded.path)
        opts = LaunchOptions(executor, args.force, args.retry_failed, args.allow_dirty, args.dry_run, code)
        asked = None
        with Ledger(plan.output_root) as ledger:
            if not args.yes and not args.dry_run:  # ask without holding the lock: other commands go on
                with ledger.locked():
                    asked = prepare(plan, ledger, opts, log)
                executor.check_fit(asked.submit, loaded, log)  # refused before asking (SLURM: one sinfo)
                print(summary(plan, asked, executor.name), file=sys.stderr)
                if asked.submit and not confirm(f"{'Submit' if executor.name == 'slurm' else 'Run'} "
                                                f"{len(asked.submit)} runs?"):
                    print("nothing submitted", file=sys.stderr)
                    return 1
            with ledger.locked():  # select again (another launch may have taken some meanwhile), record, submit
                sel = prepare(plan, ledger, opts, log)
                if args.dry_run:
                    sys.stdout.write(executor.dry_run(plan, ledger, sel))
                    print(summary(plan, sel, executor.name), file=sys.stderr)
                    continue
                executor.check_fit(sel.submit, loaded, log)  # nothing recorded or submitted when it does not fit
                if asked is None or {r.id for r in sel.submit} != {r.id for r in asked.submit}:
                    print(summary(plan, sel, executor.name), file=sys.stderr)
                if sel.submit or sel.adopted:
                    record(loaded, plan, ledger, sel, opts)
                if sel.submit:
                    executor.submit(plan, ledger, sel, log)
            if sel.submit:  # a local run goes here, outside the lock: cancel and status answer meanwhile
                failures += executor.run(plan, ledger, sel, log)
        print(f"watch it: labspec status {shlex.quote(plan.experiment)} --root {shlex.quote(plan.output_root)}",
              file=sys.stderr)
    return 1 if failures else 0


def rerun(args: argparse.Namespace, log: Callable[[str], None]) -> int:
    """`--rerun RUN`: one run again, as it ran (launch.rerun), recorded in its ledger."""
    from launch.cli_support import confirm
    from launch.emit import write_run
    from launch.executors import choose
    from launch.launcher import Selection
    from launch.ledger import Ledger, ledger_root
    from launch.rerun import plan_rerun

    with Ledger(ledger_root(args.root), create=False) as ledger:
        plan, prov = plan_rerun(ledger, args.rerun)
        (run,) = plan.runs
        executor = choose(args.executor, args.array_parallelism, args.hold, args.jobs, not args.no_preflight)
        executor.check_fit([run], None, log)
        sel = Selection(submit=[run])
        if args.dry_run:
            sys.stdout.write(executor.dry_run(plan, ledger, sel))
            return 0
        print(f"rerun of {args.rerun} as {run.name} ({run.id}) in {run.run_dir}, on {executor.name}", file=sys.stderr)
        if not args.yes and not confirm(f"{'Submit' if executor.name == 'slurm' else 'Run'} it?"):
            print("nothing submitted", file=sys.stderr)
            return 1
        with ledger.locked():
            write_run(run, prov)
            ledger.upsert_planned(plan.experiment, [(run.id, run.name, run.stage, run.run_dir, run.depends_on,
                                                     run.shards, run.coordinates)], prov)
            ledger.set_code([run.id], str(prov["code"]["id"]))
            executor.submit(plan, ledger, sel, log)
        failures = executor.run(plan, ledger, sel, log)
    print(f"watch it: labspec status {shlex.quote(run.id)} --root {shlex.quote(plan.output_root)}", file=sys.stderr)
    return 1 if failures else 0
