"""`labspec code [ID] [--gc]`: the code snapshots under an output root (launch.snapshot),
the runs that run each one, and removing those that no run refers to any more."""

from __future__ import annotations

import argparse
import time

from launch.cli_support import add_root


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("snapshot", nargs="?", metavar="ID", help="one snapshot (or a unique prefix of its id)")
    add_root(parser)
    parser.add_argument("--patch", action="store_true", help="with ID: print its uncommitted changes")
    parser.add_argument("--gc", action="store_true", help="remove the snapshots that no run in the ledger refers to")


def run(args: argparse.Namespace) -> int:
    from launch import snapshot
    from launch.ledger import Ledger, ledger_root
    from specs.errors import LabspecError
    from specs.layout import code_root

    root = ledger_root(args.root)
    with Ledger(root, create=False) as ledger:
        if args.gc:
            with ledger.locked():  # a launch stores its snapshot and records its runs under this lock
                used = ledger.code_in_use()
                gone = [(code_id, path) for code_id, path in snapshot.stored(root).items() if code_id not in used]
                for code_id, path in gone:
                    size = snapshot.size(path)
                    snapshot.remove(path)
                    print(f"removed {code_id} ({size / 1e6:.1f} MB): no run refers to it")
            print(f"{len(gone)} removed; {len(used)} in use by runs of {ledger.path}")
            return 0
        used = ledger.code_in_use()
        stored = snapshot.stored(root)
        if args.snapshot is None:
            for code_id, path in stored.items():
                m = snapshot.manifest(path)
                when = time.strftime("%Y-%m-%d %H:%M", time.localtime(float(str(m.get("created", 0)))))
                commit = str(m.get("commit") or "no git")[:12] + (" +changes" if m.get("dirty") else "")
                print(f"{code_id}  {when}  {commit:<21} {snapshot.size(path) / 1e6:5.1f} MB  "
                      f"{used.get(code_id, 0)} runs")
            missing = sorted(set(used) - set(stored))
            for code_id in missing:
                print(f"{code_id}  missing (deleted by hand?): its {used[code_id]} runs cannot start again; "
                      "launch them with --retry-failed or --force for a new snapshot")
            if not stored and not missing:
                print(f"no code snapshots under {root}")
            return 0
        matches = [c for c in {*stored, *used} if c.startswith(args.snapshot)]
        if len(matches) != 1:
            known = ", ".join(sorted(stored)) or "none"
            raise LabspecError(f"{'no' if not matches else 'more than one'} code snapshot {args.snapshot!r} under "
                               f"{root} (snapshots: {known}); `labspec code --root DIR` lists them")
        code_id = matches[0]
        where = stored.get(code_id)
        if where is None:
            print(f"{code_id}: missing from {code_root(root)} (deleted by hand?)")
        else:
            m = snapshot.manifest(where)
            files = m.get("files")
            print(f"{code_id}: {where}\n  commit {m.get('commit') or '-'}"
                  f"{' with uncommitted changes' if m.get('dirty') else ''}, "
                  f"{len(files) if isinstance(files, dict) else '?'} files, {snapshot.size(where) / 1e6:.1f} MB")
        runs = [r for r in ledger.runs() if r.code == code_id]
        print(f"  {len(runs)} runs:")
        for r in runs:
            print(f"    {r.experiment}  {r.name} ({r.id})  {r.state.lower()}")
        if args.patch and where is not None:
            patch = where / snapshot.PATCH
            print(patch.read_text(encoding="utf-8") if patch.is_file() else "  (no uncommitted changes)")
    return 0
