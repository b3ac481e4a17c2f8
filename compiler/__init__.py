"""The labspec compiler: a validated spec -> a Plan of concrete runs and their DAG.

Pure and fast: no torch, no I/O beyond reading spec files (and a local model's
config.json for the memory estimate).
"""

from compiler.compile import compile
from compiler.plan import Plan, Run

__all__ = ["Plan", "Run", "compile"]
