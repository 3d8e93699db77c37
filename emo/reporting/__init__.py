"""Reporting: the markdown report, the cross-corpus and EmoBox sections, and the metric gate."""
