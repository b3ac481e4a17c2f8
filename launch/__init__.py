"""labspec's front door: the CLI, the executors and the run ledger.

Nothing here imports torch: `labspec --help` and `labspec compile` must be instant on a
login node. Subcommands import what they need when they run.
"""
