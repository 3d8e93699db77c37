"""Bringing data in: HTTP downloads with resume and checksums, the Zenodo record, the RAVDESS layout, the fix for a
damaged clip."""
