"""Studies beyond the hold-out: cross-corpus, multi-corpus, and the classical eGeMAPS peer."""
