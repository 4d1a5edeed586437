"""Audio streams seen from the outside: Plivo's stream status callbacks and the per-call tokens that let a
stream connect."""
