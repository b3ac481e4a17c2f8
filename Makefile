# The two commands of the README: `make demo` and `make test`. Both set up .venv first.
.PHONY: setup demo test bench clean

setup:
	scripts/setup.sh

# The main job on the embedded default: validate every example, then show the plan of
# the tiny SPIN route (a dry run: nothing is submitted).
demo: setup
	.venv/bin/labspec validate specs/examples/*.yaml specs/examples/*.py
	.venv/bin/labspec compile specs/examples/spin-tiny.yaml

test:
	scripts/test.sh

bench: setup
	.venv/bin/python bench/compile_grid.py

clean:
	rm -rf .venv .pytest_cache .mypy_cache .ruff_cache runs
