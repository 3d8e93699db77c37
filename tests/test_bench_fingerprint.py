"""bench/fingerprint.py: the same hashes from every run on one machine (else comparing two machines means nothing)."""

import json
import subprocess
import sys

import torch

from project import REPO


def fingerprint() -> dict:
    done = subprocess.run([sys.executable, str(REPO / "bench/fingerprint.py"), "--steps", "1"], capture_output=True,
                          text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_two_runs_give_the_same_hash_for_every_operation_on_the_pinned_kernels():
    first, again = fingerprint(), fingerprint()
    assert first == again
    assert first["kernels"]["torch"] == "AVX2" and first["kernels"]["openblas"] == "Haswell"
    assert not first["kernels"]["numpy"].startswith(("AVX512", "X86_V4"))  # pinned before numpy loaded
    for path in ("onednn", "native"):
        assert {f"conv1d forward ({path})", f"conv1d weight gradient ({path})",
                f"TemporalCNN 1 steps ({path})"} <= set(first)
    if torch.backends.mkldnn.is_available():  # the two convolution paths are other kernels: other sums
        assert first["conv1d weight gradient (onednn)"] != first["conv1d weight gradient (native)"]
    assert all(len(value) == 12 for key, value in first.items() if key not in ("cpu", "kernels"))
