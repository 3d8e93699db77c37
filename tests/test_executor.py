"""emo.core.executor: one way to run many jobs, here, on this machine's cores or on a Dask cluster, with the same
results in the same order, and no result ever silently missing."""

import os
import time

import numpy as np
import pytest
import torch
import yaml

from emo.audio.featurize import featurize
from emo.core import executor, params
from emo.core.errors import EmoError
from emo.core.params import AudioParams, AugmentParams
from emo.core.ravdess import ActorSplit
from emo.data.augment import plan
from emo.data.inventory import build
from emo.learn import parallel
from toy_training import SETTINGS, ToyInputs, same_models

pytestmark = [pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs 2 cores to run 2 workers"),
              # a Dask scheduler's HTTP routes (not its dashboard) move off a port another cluster holds
              pytest.mark.filterwarnings("ignore:Port [0-9]+ is already in use:UserWarning")]
CPU = torch.device("cpu")


def slow_square(x: int) -> int:
    time.sleep(0.02 * (5 - x % 5))  # the early jobs finish last
    return x * x


def blas(seed: int) -> np.ndarray:
    """A result that depends on the BLAS's thread count if it is not held at one."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(300, 300))
    return a @ a.T @ a


def fails_on_three(x: int) -> int:
    if x == 3:
        raise EmoError(f"job {x} cannot")
    return x


def dies_on_two(x: int) -> int:
    if x == 2:
        os._exit(1)
    return x


def dies_on_zero(x: int) -> int:
    if x == 0:
        os._exit(1)
    return x


def dies_once(job: tuple[int, str]) -> int:
    """Kill the worker the first time job 1 runs (a marker file remembers it), then succeed."""
    x, marker = job
    if x == 1 and not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(1)
    return x


def kept_value(job: tuple[str, int]) -> tuple[str, int]:
    """What the process keeps for `key`, and the pid that made it."""
    key, _ = job
    return executor.kept(key, lambda: (key, os.getpid()))


def with_shared(shared: np.ndarray, i: int) -> float:
    return float(shared[i].sum())


@pytest.mark.parametrize("workers", [1, 2])
def test_results_come_in_job_order(workers):
    assert list(executor.run_ordered(slow_square, range(10), workers=workers)) == [x * x for x in range(10)]


def test_one_and_two_workers_give_bit_identical_results():
    one = list(executor.run_ordered(blas, range(4), workers=1, threads=1))
    two = list(executor.run_ordered(blas, range(4), workers=2, threads=1))
    assert all(np.array_equal(a, b) for a, b in zip(one, two, strict=True))


@pytest.mark.parametrize("workers", [1, 2])
def test_an_error_in_a_job_names_the_job(workers):
    with pytest.raises(EmoError, match="job 3 cannot") as caught:
        list(executor.run_ordered(fails_on_three, range(6), workers=workers, name=lambda x: f"square {x}"))
    assert caught.value.__notes__ == ["in square 3"]


def test_a_worker_that_dies_is_reported_naming_the_job():
    with pytest.raises(executor.JobError, match=r"a worker process died \(exit codes .*\) while running square"):
        list(executor.run_ordered(dies_on_two, range(6), workers=2, name=lambda x: f"square {x}"))
    assert list(executor.run_ordered(slow_square, range(4), workers=2)) == [0, 1, 4, 9]  # a fresh pool next time


def test_a_process_keeps_a_value_within_a_run_only():
    jobs = [("a", 0), ("a", 1), ("b", 2)]
    first = list(executor.run_ordered(kept_value, jobs, workers=1))
    assert first[0] == first[1] and first[2] == ("b", os.getpid())
    assert executor._KEPT == {}  # let go at the end of the run in this process
    assert [v[0] for v in executor.run_ordered(kept_value, jobs, workers=2)] == ["a", "a", "b"]


def test_shared_argument_reaches_every_job():
    shared = np.arange(400_000, dtype=np.float64).reshape(4, -1)  # 3.2 MB: joblib memory-maps it
    for workers in (1, 2):
        assert list(executor.run_ordered(with_shared, range(4), workers=workers, shared=shared)) == \
            [float(row.sum()) for row in shared]


def test_compute_section_is_validated(tmp_path):
    def load(**compute):
        data = yaml.safe_load(open("params.yaml"))
        data["compute"] = compute
        (tmp_path / "params.yaml").write_text(yaml.safe_dump(data))
        return params.load(tmp_path / "params.yaml")

    assert params.load().compute.scheduler == ""  # the committed params.yaml: this machine
    assert load(scheduler="tcp://10.0.0.7:8786").compute.scheduler == "tcp://10.0.0.7:8786"
    with pytest.raises(params.ParamsError, match="compute.scheduler: 'http://host' is not allowed"):
        load(scheduler="http://host")
    with pytest.raises(params.ParamsError, match="compute.workers"):
        load(scheduler="", workers=2)


# A Dask cluster on the loopback interface: two worker processes of one thread each.

@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
                      dashboard_address=None) as local:
        yield local.scheduler_address


def test_dask_results_come_in_order_with_errors_named(cluster):
    assert list(executor.run_ordered(slow_square, range(10), workers=1, scheduler=cluster)) == \
        [x * x for x in range(10)]
    with pytest.raises(EmoError, match="job 3 cannot") as caught:
        list(executor.run_ordered(fails_on_three, range(6), workers=1, scheduler=cluster, name=lambda x: f"sq {x}"))
    assert caught.value.__notes__ == ["in sq 3"]
    shared = np.arange(12.0).reshape(3, 4)
    assert list(executor.run_ordered(with_shared, range(3), workers=1, scheduler=cluster, shared=shared)) == \
        [6.0, 22.0, 38.0]


def test_dask_trains_bit_identical_models(cluster):
    here, shapes = parallel.train_runs(ToyInputs(), [0, 1], (0, 1), SETTINGS, CPU, workers=2, progress=False)
    there, there_shapes = parallel.train_runs(ToyInputs(), [0, 1], (0, 1), SETTINGS, CPU, workers=2, progress=False,
                                              scheduler=cluster)
    assert [(r.fold, r.seed) for r in there] == [(f, s) for f in (0, 1) for s in (0, 1)]
    assert shapes == there_shapes and same_models(here, there)
    assert not same_models(there[:1], there[1:2])  # the seeds differ, so the check above could fail
    with pytest.raises(EmoError, match="fold 1: no training rows") as caught:
        parallel.train_runs(ToyInputs(broken_fold=1), [0, 1], (0,), SETTINGS, CPU, progress=False, scheduler=cluster)
    assert caught.value.__notes__ == ["in train fold 1 seed 0"]


def test_dask_computes_bit_identical_features(cluster, fixture_dataset, tmp_path):
    audio = AudioParams(sample_rate=16000, n_mels=32, n_mfcc=13, workers=1)
    rows = [r for r in build(fixture_dataset, ActorSplit(val=(21,), test=(23,))) if r.actor == 1][:6]
    planned = plan(rows, AugmentParams(), audio)
    featurize(planned, audio, 0.035, tmp_path / "here", progress=False)
    featurize(planned, audio, 0.035, tmp_path / "dask", progress=False, scheduler=cluster)
    for name in ("logmel", "mfcc", "valid"):
        here, there = np.load(tmp_path / "here" / f"{name}.npy"), np.load(tmp_path / "dask" / f"{name}.npy")
        assert len(here) == len(planned) and np.array_equal(here, there)


def test_dask_runs_again_a_job_whose_worker_died(cluster, tmp_path):
    marker = str(tmp_path / "died")
    assert list(executor.run_ordered(dies_once, [(x, marker) for x in range(4)], workers=1, scheduler=cluster)) == \
        [0, 1, 2, 3]
    assert os.path.exists(marker)  # the first run of job 1 did kill its worker


def test_dask_reports_a_job_that_kills_its_workers():
    import dask
    from distributed import LocalCluster

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), LocalCluster(
            n_workers=1, processes=True, threads_per_worker=1, host="127.0.0.1", dashboard_address=None) as local:
        # Dask blames every job the dying worker held (the next one may be queued there): the first comes first
        with pytest.raises(executor.JobError, match="square 0: the Dask workers it was given died, each time"):
            list(executor.run_ordered(dies_on_zero, range(4), workers=1, scheduler=local.scheduler_address,
                                      name=lambda x: f"square {x}"))


def test_dask_workers_must_run_one_thread():
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, processes=False, threads_per_worker=2, dashboard_address=None) as local:
        with pytest.raises(EmoError, match="run several threads; .* --nthreads 1"):
            list(executor.run_ordered(slow_square, range(2), workers=1, scheduler=local.scheduler_address))


def test_dask_workers_without_the_pins_are_refused():
    """A worker that computes with other kernels than this process (started without emo's pins, here with torch's
    generic kernels) would give other numbers without a word: refused, naming the fix."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, processes=True, threads_per_worker=1, host="127.0.0.1", dashboard_address=None,
                      env={"ATEN_CPU_CAPABILITY": "default", "EMO_NATIVE_ISA": "1"}) as local:
        with pytest.raises(EmoError, match=r"computes with other kernels: torch DEFAULT .*env \$\(emo pins\) dask"):
            list(executor.run_ordered(slow_square, range(2), workers=1, scheduler=local.scheduler_address))


def test_an_unreachable_scheduler_is_named(monkeypatch):
    monkeypatch.setattr(executor, "CONNECT_SECONDS", 1)
    with pytest.raises(EmoError, match="no Dask scheduler answers at tcp://127.0.0.1:9"):
        list(executor.run_ordered(slow_square, range(2), workers=1, scheduler="tcp://127.0.0.1:9"))


LEAKY_RUN = """
import sys
from emo.core import executor
from emo.core.errors import EmoError

def leaves_a_resource(x):
    # what a worker killed mid-job leaves: a memory map's file registered with loky's resource tracker, never
    # released, and already deleted by the time the tracker looks at it
    from joblib.externals.loky.backend import resource_tracker
    resource_tracker.register(f"/nonexistent/emo-test-{x}", "file")
    if x == 1:
        raise EmoError("job 1 cannot")
    return x

try:
    list(executor.run_ordered(leaves_a_resource, range(2), workers=2))
except EmoError as err:
    print(f"error: {err}", file=sys.stderr)
    sys.exit(1)
"""


def test_a_failed_run_ends_on_its_own_error_line(tmp_path):
    """loky's resource tracker outlives the run and cleans up after killed workers; its notes about that must not
    follow (and hide) the run's own error line on stderr (a CI run once saw the train stage end on one)."""
    import subprocess
    import sys

    script = tmp_path / "leaky.py"
    script.write_text(LEAKY_RUN)
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.splitlines() == ["error: job 1 cannot"]
