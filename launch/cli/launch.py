"""`labspec launch SPEC...`: compile, then submit to SLURM (or run here), remembering
everything in the ledger. Idempotent: launching again submits only what is new."""

from __future__ import annotations

import argparse
import sys

from launch.cli.common import add_overrides, load_and_compile


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
    parser.add_argument("--array-parallelism", type=int, default=64, metavar="N",
                        help="at most N tasks of one job array run at once (default 64)")
    parser.add_argument("--changed", nargs="?", const="HEAD", default=None, metavar="REV_RANGE",
                        help="launch the YAML specs added or modified in these commits (default: the last)")


def run(args: argparse.Namespace) -> int:
    import shlex

    from launch.changed import changed_specs
    from launch.cli.confirm import confirm
    from launch.executors import LocalExecutor, SlurmExecutor, choose
    from launch.gitcheck import require_clean
    from launch.launcher import LaunchOptions, dry_run_scripts, prepare, record, submit_slurm
    from launch.ledger import Ledger
    from launch.local import run_local
    from launch.summary import summary
    from specs.errors import LabspecError

    specs = list(args.specs)
    if args.changed is not None:
        specs += changed_specs(args.changed)
        if not specs:
            print(f"no labspec YAML spec was added or changed in {args.changed}", file=sys.stderr)
            return 0
    if not specs:
        raise LabspecError("name a spec to launch (or --changed [REV_RANGE])")

    use_slurm = choose(args.executor) == "slurm"
    executor = (SlurmExecutor(array_parallelism=args.array_parallelism, hold=args.hold) if use_slurm
                else LocalExecutor())
    failures = 0
    for spec in specs:
        loaded, plan = load_and_compile(spec, args.overrides)
        if not args.dry_run:
            require_clean(loaded.path, args.allow_dirty)
        opts = LaunchOptions(executor, args.force, args.retry_failed, args.allow_dirty, args.dry_run)

        def log(msg: str) -> None:
            print(msg, file=sys.stderr, flush=True)

        with Ledger(plan.output_root) as ledger:
            with ledger.locked():  # plan, record and submit; local runs then run outside it
                sel = prepare(plan, ledger, opts, log)
                if args.dry_run:
                    if isinstance(executor, SlurmExecutor):
                        sys.stdout.write(dry_run_scripts(plan, ledger, executor, sel))
                    else:
                        for r in sel.submit:
                            sys.stdout.write(f"### {r.run_dir}/launch.sh (run {r.name})\n{r.script}\n")
                    print(summary(plan, sel, executor.name), file=sys.stderr)
                    continue
                print(summary(plan, sel, executor.name), file=sys.stderr)
                if sel.submit and not args.yes and not confirm(
                        f"{'Submit' if use_slurm else 'Run'} {len(sel.submit)} runs?"):
                    print("nothing submitted", file=sys.stderr)
                    return 1
                if sel.submit or sel.adopted:
                    record(loaded, plan, ledger, sel, opts)
                if sel.submit and isinstance(executor, SlurmExecutor):
                    submit_slurm(plan, ledger, executor, sel, log)
            if sel.submit and isinstance(executor, LocalExecutor):
                run_local(plan, ledger, sel.submit, log)
                failures += sum(1 for r in sel.submit if (rec := ledger.get(r.id)) and rec.state != "COMPLETED")
        print(f"watch it: labspec status {shlex.quote(plan.experiment)} --root {shlex.quote(plan.output_root)}",
              file=sys.stderr)
    return 1 if failures else 0
