"""emo: reproducible emotion recognition on RAVDESS from voice, face and both."""

__version__ = "0.1.0"
