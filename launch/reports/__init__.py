"""Route-specific sections of `labspec report`, one module per kind, each with
`section(runs, out) -> (markdown, images)`; kinds without one get the generic table only."""

from __future__ import annotations

SECTIONS: dict[str, str] = {  # kind -> module under launch.reports
    "formula_dpo": "formula_dpo",
    "grpo": "grpo",
    "spin": "spin",
    "radio": "radio",
    "size_ladder": "size_ladder",
    "reasoning": "reasoning",
}
