"""Chain-of-thought bootstrapping (STaR / rejection sampling): answer checkers, prompts,
final-answer extraction and de-duplication."""
