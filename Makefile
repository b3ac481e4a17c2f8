# The two commands of the README: `make demo` and `make test`. Both set up .venv first.
.PHONY: setup demo test bench clean

setup:
	scripts/setup.sh

# The main job on the embedded default: validate every example, show the plan of the
# tiny SPIN route (a dry run), then launch the smoke example on the local executor
# (2-process torchrun, all-reduce, checkpoints) and show its status from the ledger.
demo: setup
	.venv/bin/labspec validate specs/examples/*.yaml specs/examples/*.py
	.venv/bin/labspec compile specs/examples/spin-tiny.yaml
	.venv/bin/labspec launch specs/examples/smoke.yaml --executor local --yes
	.venv/bin/labspec status smoke --root runs

test:
	scripts/test.sh

bench: setup
	.venv/bin/python bench/compile_grid.py
	tests/cluster/up.sh && SLURM_CONF=/tmp/labspec-cluster/etc/slurm.conf .venv/bin/python bench/submit_grid.py

clean:
	rm -rf .venv .pytest_cache .mypy_cache .ruff_cache runs
