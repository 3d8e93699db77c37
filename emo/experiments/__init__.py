"""Whole-pipeline experiments in scratch copies: named variants and nested cross-validation."""
