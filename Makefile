# The two commands of the README: `make demo` and `make test`. Both set up .venv first.
.PHONY: setup demo demos test bench clean

setup:
	scripts/setup.sh

# The main job on the embedded default: validate every example, show the quickstart's
# plan (the dry run), build the offline tiny fixtures, run the quickstart on the local
# executor (SFT -> generate -> evaluate -> DPO -> evaluate, DeepSpeed on 2 CPU processes)
# and end with its report; `labspec tb quickstart --root runs` shows the curves.
demo: setup
	.venv/bin/labspec validate specs/examples/*.yaml specs/examples/*.py
	.venv/bin/labspec compile specs/examples/quickstart.yaml
	.venv/bin/python -m runtime.fixtures runs/assets
	.venv/bin/labspec launch specs/examples/quickstart.yaml --executor local --yes
	.venv/bin/labspec report quickstart --root runs

test:
	scripts/test.sh

# The route demos of docs/results.md, one after another (each under 10 minutes on 2 CPU
# cores): each prints its measured table and writes its report under runs/demo-*.
demos: setup
	.venv/bin/python demos/reasoning.py
	.venv/bin/python demos/reasoning_grpo.py
	.venv/bin/python demos/size_ladder.py
	.venv/bin/python demos/size_ladder_contamination.py
	.venv/bin/python demos/spin.py
	.venv/bin/python demos/formula_dpo.py
	.venv/bin/python demos/radio.py

bench: setup
	.venv/bin/python bench/compile_grid.py
	.venv/bin/python bench/generation.py
	.venv/bin/python bench/trainer_overhead.py
	.venv/bin/python -m bench.code_snapshot
	.venv/bin/python -m bench.local_parallel
	.venv/bin/python bench/katex_validity.py
	.venv/bin/python bench/distill_throughput.py
	tests/cluster/up.sh && SLURM_CONF=/tmp/labspec-cluster/etc/slurm.conf .venv/bin/python bench/submit_grid.py

clean:
	rm -rf .venv .pytest_cache .mypy_cache .ruff_cache runs
