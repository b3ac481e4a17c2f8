"""The size ladder: lm-evaluation-harness task configs per intervention, verifiers for
best-of-n, and the ladder's arithmetic (retention, gains, standard errors)."""
