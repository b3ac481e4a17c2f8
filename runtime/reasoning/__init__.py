"""Route `reasoning`: chain-of-thought bootstrapping (STaR / rejection sampling): answer
checkers, prompts, final-answer extraction, de-duplication, GRPO's rewards, the planner +
solver. Registers its tasks, its evaluator, its reward and the chain-of-thought prompt style."""

from runtime.core import registry
from runtime.reasoning import chains

registry.TASKS.update({"filter_chains": "runtime.reasoning.filter:run",
                       "plan_solve": "runtime.reasoning.plan_solve:run"})
registry.EVALUATORS["reasoning"] = "runtime.reasoning.evaluator:evaluate"
registry.REWARDS["reasoning"] = "runtime.reasoning.rewards:reward_functions"
registry.PROMPT_STYLES["cot"] = chains.prompt
registry.EXEMPLARS["cot"] = chains.exemplar
