"""The small core every other part imports: errors, file writing, parameters and their rules, the RAVDESS naming
scheme, where files live."""
