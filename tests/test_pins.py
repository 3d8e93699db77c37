"""Pinned kernels (emo.core.pins): `import emo` caps numpy, OpenBLAS, MKL, oneDNN, torch and numba at AVX2 before
they load, overriding the shell, unless the user opts out."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from emo.core import pins

REPORT = ("import emo, json, os, numpy, torch; from emo.core import pins; "
          "print(json.dumps({'kernels': pins.kernels(), 'env': {k: os.environ.get(k) for k in pins.PINS}}))")
AVX512 = ("X86_V4", "AVX512_ICL", "AVX512_SPR", "AVX512_SKX", "AVX512F")


def fresh(env: dict[str, str]) -> dict:
    """What a new interpreter computes with after `import emo`, under `env`."""
    done = subprocess.run([sys.executable, "-c", REPORT], env={**os.environ, **env}, capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout)


def test_the_pins_override_a_shell_that_asks_for_more():
    loose = {"ATEN_CPU_CAPABILITY": "avx512", "NPY_DISABLE_CPU_FEATURES": "", "OPENBLAS_CORETYPE": "SkylakeX",
             "MKL_CBWR": "AUTO", "ONEDNN_MAX_CPU_ISA": "ALL", pins.OPT_OUT: ""}
    found = fresh(loose)
    assert found["env"] == pins.PINS
    assert found["kernels"]["numpy"] not in AVX512 and found["kernels"]["torch"] != "AVX512"
    assert found["kernels"]["openblas"] in ("Haswell", "none") and found["kernels"]["mkl_cbwr"] == "AVX2,STRICT"


def test_opting_out_leaves_every_library_its_own_choice():
    found = fresh({pins.OPT_OUT: "1", "ATEN_CPU_CAPABILITY": "default"})
    assert found["env"]["ATEN_CPU_CAPABILITY"] == "default"  # the shell's, untouched
    assert found["kernels"]["torch"] == "DEFAULT"
    assert pins.wanted({pins.OPT_OUT: "1"}) == {} and pins.wanted({pins.OPT_OUT: "0"}) == pins.PINS


def test_apply_sets_every_pin_and_names_what_loaded_too_early():
    environ = {"OPENBLAS_CORETYPE": "Zen"}
    assert pins.apply(environ) == [] and environ == pins.PINS
    assert set(pins.apply()) <= set(pins.READ_AT_LOAD)  # this test process loaded numpy before: named, not hidden


def test_the_shell_words_start_a_worker_with_the_pins():
    words = pins.shell_words().split()
    assert dict(word.split("=", 1) for word in words) == pins.PINS  # no value holds a space: `env $(emo pins) ...`
