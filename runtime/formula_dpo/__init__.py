"""Route `formula_dpo`: formula data, KaTeX validity, LaTeX metrics, mining pairs from the
model's own mistakes. Registers its tasks, its evaluator and the LaTeX normaliser."""

from runtime.core import registry
from runtime.formula_dpo.latex import normalize

registry.TASKS.update({"formula_data": "runtime.formula_dpo.data:run", "mine_pairs": "runtime.formula_dpo.mine:run"})
registry.EVALUATORS["formula"] = "runtime.formula_dpo.evaluator:evaluate"
registry.NORMALIZERS["latex"] = normalize
