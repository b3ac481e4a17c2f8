"""AM-RADIO-style distillation: teachers, student, adaptors, losses, PHI-S, kNN."""
