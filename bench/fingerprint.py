"""Which numeric kernels give the same bits on this CPU as on another: a hash per operation the pipeline runs,
on seeded inputs, with the pinned kernels (emo.core.pins), printed as JSON.

Run it on two machines and compare the lines: the first operation whose hash differs is where their numbers part.
The committed run's machine printed the hashes in docs/reproducing.md ("Same numbers on another machine").
Each torch operation is hashed twice: with oneDNN (torch's default on a CPU) and without it (torch's own kernels
over MKL), because oneDNN sizes its blocking by the CPU's caches, not only by its instruction set.

Run: .venv/bin/python bench/fingerprint.py [--steps 5]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# isort: off
import emo  # noqa: E402,F401  (the pins, before numpy and torch load: the order matters)
import numpy as np  # noqa: E402
import torch  # noqa: E402
# isort: on

from emo.core import pins  # noqa: E402
from emo.learn.models import TemporalCNN  # noqa: E402


def digest(*arrays) -> str:
    """The first 12 hex digits of the sha256 of the arrays' bytes."""
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a.detach().numpy() if isinstance(a, torch.Tensor) else a).tobytes())
    return h.hexdigest()[:12]


def numpy_ops() -> dict[str, str]:
    """What featurize computes with: numpy's vectorised log10 and OpenBLAS's sgemm (the mel filterbank)."""
    rng = np.random.default_rng(0)
    power = rng.random((257, 188), dtype=np.float32) + 1e-6
    mel = rng.random((64, 257), dtype=np.float32)
    return {"numpy log10": digest(np.log10(power)), "openblas sgemm": digest(mel @ power)}


def torch_ops(onednn: bool, steps: int) -> dict[str, str]:
    """A 1-D convolution forward and backward, batch norm, a linear layer, and `steps` AdamW steps of the
    TemporalCNN, each hashed."""
    torch.backends.mkldnn.enabled = onednn
    tag = "onednn" if onednn else "native"
    torch.manual_seed(0)  # the layers' default initialisation
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(32, 64, 94, generator=generator)
    conv = torch.nn.Conv1d(64, 96, 5, padding=2, bias=False)
    torch.nn.init.normal_(conv.weight, generator=generator)
    out = conv(x)
    out.square().sum().backward()
    norm = torch.nn.BatchNorm1d(96)
    normed = norm(out.detach())
    linear = torch.nn.Linear(384, 8)
    torch.nn.init.normal_(linear.weight, generator=generator)
    found = {f"conv1d forward ({tag})": digest(out), f"conv1d weight gradient ({tag})": digest(conv.weight.grad),
             f"batch norm ({tag})": digest(normed),
             f"linear ({tag})": digest(linear(torch.randn(32, 384, generator=generator)))}
    torch.manual_seed(0)
    model = TemporalCNN((64, 188))
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.01)
    clips, labels = torch.randn(32, 64, 188, generator=generator), torch.randint(0, 8, (32,), generator=generator)
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(model(clips), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    found[f"TemporalCNN {steps} steps ({tag})"] = digest(*model.state_dict().values())
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=5, help="AdamW steps of the TemporalCNN (default 5)")
    args = parser.parse_args()
    torch.set_num_threads(1)  # the pipeline's train.threads: 1
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown") if Path("/proc/cpuinfo").is_file() else "unknown"
    report = {"cpu": cpu, "kernels": pins.loaded_kernels(), **numpy_ops(),
              **torch_ops(True, args.steps), **torch_ops(False, args.steps)}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
