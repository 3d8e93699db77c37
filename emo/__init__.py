"""emo: reproducible emotion recognition on RAVDESS from voice, face and both.

Importing emo pins the SIMD code paths of numpy, OpenBLAS, MKL, oneDNN, torch and numba to the AVX2 level before
any of them loads (emo.core.pins): the same params give the same numbers on any x86-64 CPU with AVX2.
"""

from emo.core import pins as _pins

_pins.apply()

__version__ = "0.1.0"
