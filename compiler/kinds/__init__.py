"""One module per kind: `stages(experiment) -> [StageNode]`, its pipeline for one grid point."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from compiler.kinds import dpo, evaluate, formula_dpo, grpo, radio, reasoning, sft, size_ladder, smoke, spin
from compiler.nodes import StageNode

KIND_COMPILERS: dict[str, Callable[[Any], list[StageNode]]] = {
    "sft": sft.stages,
    "dpo": dpo.stages,
    "grpo": grpo.stages,
    "evaluate": evaluate.stages,
    "formula_dpo": formula_dpo.stages,
    "spin": spin.stages,
    "radio": radio.stages,
    "size_ladder": size_ladder.stages,
    "reasoning": reasoning.stages,
    "smoke": smoke.stages,
}
