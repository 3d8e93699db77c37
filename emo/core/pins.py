"""Pinned numeric code paths, so that the same params give bit-identical features and models on any x86-64 CPU
with AVX2 (Intel or AMD, with or without AVX-512).

numpy, OpenBLAS, MKL, oneDNN, torch's own kernels and numba each choose SIMD kernels at run time by what the CPU
offers. Kernels of another vector width add floats in another order, so an AVX-512 machine computes other
features (numpy's log10 and OpenBLAS's sgemm in the mel filterbank) and other weights (torch's reductions, MKL's
sgemm, oneDNN's convolutions) than an AVX2 machine from the same clips. Each library reads an environment
variable that caps or fixes that choice when it loads; `apply` sets them all to the AVX2 level before any of them
loads. `import emo` applies them (emo/__init__.py), so every stage, every worker process it starts, and
`emo predict` compute on the same kernels.

Not covered (README "Same numbers on another machine"): CPUs without AVX2 (older than 2013: the libraries fall
back to their baseline kernels), other architectures (ARM), GPUs, and other versions of the pinned libraries
(requirements.txt). libsoxr needs no pin: its SSE and AVX paths exist on every AVX2 CPU and it picks both there.
`EMO_NATIVE_ISA=1` leaves every library its own choice: faster on an AVX-512 machine, other numbers.
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping

OPT_OUT = "EMO_NATIVE_ISA"
PINS = {
    # numpy's run-time dispatch (log, exp, sums of its ufuncs): its AVX-512 targets off, AVX2 (X86_V3) kept.
    "NPY_DISABLE_CPU_FEATURES": "X86_V4,AVX512_ICL,AVX512_SPR",
    # OpenBLAS inside numpy and scipy: the Haswell (AVX2) kernels, whatever the CPU.
    "OPENBLAS_CORETYPE": "Haswell",
    # MKL inside torch: conditional numerical reproducibility on the AVX2 branch, strict (same results on Intel
    # and AMD CPUs that have AVX2).
    "MKL_CBWR": "AVX2,STRICT",
    # torch's own vectorised kernels (ATen) and its oneDNN convolutions: AVX2 at most.
    "ATEN_CPU_CAPABILITY": "avx2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    # numba (librosa's overlap-add in the pitch-shift augmentation): code generated for an AVX2 CPU.
    "NUMBA_CPU_NAME": "haswell",
}
#: The libraries that read a pin when they load: a pin set after one of them loaded does not hold in this process.
READ_AT_LOAD = ("numpy", "torch", "numba")


def wanted(environ: MutableMapping[str, str] = os.environ) -> dict[str, str]:
    """The variables `apply` sets: PINS, or nothing when the user opted out with EMO_NATIVE_ISA=1."""
    return {} if environ.get(OPT_OUT, "") not in ("", "0") else dict(PINS)


def apply(environ: MutableMapping[str, str] = os.environ) -> list[str]:
    """Set the pins in `environ` (this process's by default, and so its children's), overriding what the shell
    set: a pin the user could loosen by accident would not be one. Returns the libraries already loaded here, for
    which it comes too late (none when emo is imported first, as the stages and `emo` do)."""
    environ.update(wanted(environ))
    return [name for name in READ_AT_LOAD if name in sys.modules] if environ is os.environ else []


def kernels() -> dict[str, str]:
    """What this process actually computes with: numpy's best dispatched SIMD target, OpenBLAS's core, torch's CPU
    capability, MKL's branch. Recorded in the outputs so that a run says which kernels made it (the same on every
    AVX2 CPU with the pins)."""
    import numpy as np
    from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
    from threadpoolctl import threadpool_info

    found = [name for name in __cpu_dispatch__ if __cpu_features__.get(name)]
    blas = sorted({str(info.get("architecture")) for info in threadpool_info()
                   if info.get("internal_api") == "openblas"})
    out = {"numpy": found[-1] if found else "baseline", "numpy_version": np.__version__,
           "openblas": ",".join(blas) or "none"}
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        out.update(torch=torch.backends.cpu.get_cpu_capability(), torch_version=str(torch.__version__),
                   mkl_cbwr=os.environ.get("MKL_CBWR", "native"))
    return out


def shell_words() -> str:
    """The pins as `NAME=value` words (no value holds a space) for `env`, e.g. to start a Dask worker with them
    before it loads numpy: `env $(emo pins) dask worker ADDRESS --nthreads 1`."""
    return " ".join(f"{name}={value}" for name, value in PINS.items())


def loaded_kernels() -> dict[str, str]:
    """`kernels()` with torch loaded: what a training job computes with (run on each Dask worker to check it)."""
    import torch  # noqa: F401

    return kernels()
