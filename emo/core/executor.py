"""One way to run many jobs: in this process, on this machine's cores (joblib's loky processes) or on a Dask cluster
(params.yaml's `compute.scheduler`). The only module of emo that starts processes (tests/test_house.py checks it).

`run_ordered(func, jobs, ...)` yields `func(job)` for each job, in the order of `jobs`, as the results come in. Where
the jobs run never changes a result: each job runs under the same BLAS/OpenMP thread limit (`threads`) in this
process (workers: 1) as in a worker process, and whatever else a result depends on (seeds, torch threads) is the
job's own. A job that raises stops the run with its own exception, noted with the job's name; a worker process that
dies (killed, out of memory) stops it with a JobError naming the job: no result is ever silently missing.

On a cluster, every worker must see the repository and its data at the path the run started in (a shared
filesystem, or the same checkout) and run one job at a time (`dask worker ADDRESS --nthreads 1`): a job's thread
limits and working directory hold for its whole process. Dask runs a job again when its worker dies mid-job, up to
`distributed.scheduler.allowed-failures` times (3), then reports it.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import uuid
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, replace
from typing import Any

from threadpoolctl import threadpool_limits

from emo.core.errors import EmoError

LOCAL = ""  # compute.scheduler: this machine
CONNECT_SECONDS = 30  # how long to try to reach a Dask scheduler
WORKER_WAIT_SECONDS = 120  # how long to wait for a first Dask worker to join it
_NONE = object()  # no `shared` argument


class JobError(EmoError):
    """A job has no result: the process running it died, or the cluster lost it."""


_RUN: str | None = None  # the run whose job this process is carrying out
_KEPT: dict = {}  # this process's kept value: {"key": (run, key), "value": ...}


def kept(key: Any, make: Callable[[], Any]) -> Any:
    """`make()`, made once per process and run while `key` stays the same, so that the jobs of one run a process
    carries out one after the other share it (a fold's arrays, a face detector). Only the last key's value is kept;
    a new run (another `run_ordered` call) makes it afresh, so nothing is carried over from an earlier run."""
    full = (_RUN, key)
    if _KEPT.get("key") != full:
        _KEPT.clear()  # let the previous value go before making the next
        _KEPT.update(key=full, value=make())
    return _KEPT["value"]


def _thread_lock_for_bars() -> None:
    """In a worker process, tqdm's bars take a thread lock instead of their default multiprocessing one: no other
    process shares it anyway (the workers are spawned, not forked), and a worker killed mid-job (a failed job stops
    the others) would leave that semaphore behind, for Python's resource tracker to warn about at exit."""
    from tqdm import tqdm

    if not isinstance(getattr(tqdm, "_lock", None), type(_BAR_LOCK)):
        tqdm.set_lock(_BAR_LOCK)


_BAR_LOCK = threading.RLock()

# loky's resource tracker outlives this process: at its end it removes what killed workers had registered and never
# released (a job that raises makes joblib kill the others mid-job, memory maps open) and warns about each, the files
# mostly gone already. Those notes would come after the run's own error line and take its place as stderr's last
# line; the user can do nothing about them. The tracker (and every worker) is started with this process's -W options.
_TRACKER_QUIET = "ignore:resource_tracker:UserWarning"


def _quiet_resource_tracker() -> None:
    if _TRACKER_QUIET not in sys.warnoptions:
        sys.warnoptions.append(_TRACKER_QUIET)


def _note(err: BaseException, name: str) -> None:
    """Name the job in a PEP 678 note (shown under the traceback, and by emo.core.errors.reported), unless the
    message or a note names it already."""
    text, notes = f"in {name}", getattr(err, "__notes__", [])
    if name in str(err) or text in notes:
        return
    try:
        err.__notes__ = [*notes, text]
    except (AttributeError, TypeError):
        pass


@dataclass(frozen=True)
class _Call:
    """What every process runs for a job: `func(job)` (`func(shared, job)`) in the caller's working directory, under
    the run's thread limit, naming the job in its exception."""

    func: Callable
    threads: int | None
    cwd: str
    run: str
    worker: bool = False  # in a worker process, not the caller's

    def __call__(self, name: str, job: Any, *shared: Any) -> Any:
        global _RUN
        _RUN = self.run
        if self.worker:
            _thread_lock_for_bars()
        try:
            here = os.getcwd()
        except OSError:  # a reused worker whose directory is gone
            here = None
        moved = here != self.cwd and os.path.isdir(self.cwd)
        if moved:
            os.chdir(self.cwd)
        try:
            with threadpool_limits(self.threads) if self.threads is not None else nullcontext():
                return self.func(*shared, job)
        except Exception as err:
            _note(err, name)
            raise
        finally:
            if moved and here is not None and os.path.isdir(here):
                os.chdir(here)


def run_ordered(func: Callable, jobs: Iterable, *, workers: int, threads: int | None = None,
                scheduler: str = LOCAL, shared: Any = _NONE, name: Callable[[Any], str] | None = None) -> Iterator:
    """`func(job)` of every job, yielded in the order of `jobs` as they come in.

    workers: processes on this machine (1, or a single job: this process, no pool); ignored with a `scheduler`,
    whose workers decide. threads: BLAS/OpenMP threads per job (threadpoolctl), None: as the process has them.
    scheduler: '' runs here; a Dask scheduler's address (tcp://host:8786) runs the jobs on its cluster. shared: an
    argument common to every job, sent once per worker where it can be (`func(shared, job)`). name: a job's name in
    errors (default 'job i of n'). The results do not depend on `workers` or `scheduler`.
    """
    jobs = list(jobs)
    names = [name(job) if name else f"job {i + 1} of {len(jobs)}" for i, job in enumerate(jobs)]
    call = _Call(func, threads, os.getcwd(), uuid.uuid4().hex)
    extra = () if shared is _NONE else (shared,)
    if scheduler:
        results = _on_cluster(replace(call, worker=True), jobs, names, scheduler, extra)
    elif workers > 1 and len(jobs) > 1:
        results = _on_cores(replace(call, worker=True), jobs, names, min(workers, len(jobs)), extra)
    else:
        results = _here(call, jobs, names, extra)
    done = 0
    try:
        for result in results:
            yield result
            done += 1
    except _WorkerDied as died:
        unfinished = names[done:]
        raise JobError(f"a worker process died ({died}) while running {unfinished[0]}"
                       + (f" or one of the {len(unfinished) - 1} jobs after it" if len(unfinished) > 1 else "")
                       + "; out of memory? lower the workers, or look for the process's own error above") from None
    finally:
        with warnings.catch_warnings():  # joblib's note that closing early dropped results: here, on purpose
            warnings.filterwarnings("ignore", "[0-9]+ tasks have been successfully executed", UserWarning)
            results.close()
    if done != len(jobs):
        raise JobError(f"{len(jobs) - done} of {len(jobs)} jobs returned no result, the first {names[done]}")


def _here(call: _Call, jobs: Sequence, names: Sequence[str], extra: tuple) -> Iterator:
    """The jobs one after the other in this process; what they kept is let go at the end."""
    global _RUN
    try:
        for name, job in zip(names, jobs, strict=True):
            yield call(name, job, *extra)
    finally:
        _RUN = None
        if _KEPT.get("key", (None,))[0] == call.run:
            _KEPT.clear()


class _WorkerDied(Exception):
    """A local worker process ended without returning its job's result."""


def _on_cores(call: _Call, jobs: Sequence, names: Sequence[str], workers: int, extra: tuple) -> Iterator:
    """The jobs on `workers` loky processes of this machine (reused from run to run; big numpy arrays in `extra`
    reach them as memory maps, not copies)."""
    from joblib import Parallel, delayed
    from joblib.externals.loky.process_executor import TerminatedWorkerError

    _quiet_resource_tracker()
    tasks = (delayed(call)(name, job, *extra) for name, job in zip(names, jobs, strict=True))
    try:
        yield from Parallel(n_jobs=workers, backend="loky", return_as="generator")(tasks)
    except TerminatedWorkerError as err:
        codes = re.search(r"exit codes of the workers are (\{.*?\})", str(err))
        raise _WorkerDied(f"exit codes {codes.group(1)}" if codes else "killed") from None


def _on_cluster(call: _Call, jobs: Sequence, names: Sequence[str], address: str, extra: tuple) -> Iterator:
    """The jobs on the Dask cluster at `address`, a few per worker in flight at a time (memory stays bounded)."""
    from distributed import Client

    try:
        client = Client(address, set_as_default=False, timeout=CONNECT_SECONDS)
    except (OSError, TimeoutError) as err:
        raise EmoError(f"compute.scheduler: no Dask scheduler answers at {address} ({err}); start one (`dask "
                       f"scheduler`) and workers (`dask worker {address} --nthreads 1`), or set compute.scheduler: "
                       "'' to run on this machine") from None
    with client:
        try:
            client.wait_for_workers(1, timeout=WORKER_WAIT_SECONDS)
        except TimeoutError:
            raise EmoError(f"compute.scheduler: no Dask worker joined {address} in {WORKER_WAIT_SECONDS} s; start "
                           f"some: `dask worker {address} --nthreads 1`") from None
        threads = client.nthreads()
        several = sorted(worker for worker, n in threads.items() if n != 1)
        if several:
            raise EmoError(f"compute.scheduler: Dask workers {', '.join(several)} run several threads; a job's thread "
                           f"limits hold for its whole process, so start them with --nthreads 1 (--nworkers N for "
                           "N processes)")
        _require_pins(client)
        extra = tuple(client.scatter(value, broadcast=True, hash=False) for value in extra)
        window, pending = 2 * len(threads) + 2, deque()
        for index, (name, job) in enumerate(zip(names, jobs, strict=True)):
            pending.append((name, client.submit(call, name, job, *extra, key=f"emo-{call.run[:8]}-{index}",
                                                pure=False)))
            if len(pending) >= window:
                yield _cluster_result(*pending.popleft())
        while pending:
            yield _cluster_result(*pending.popleft())


def _require_pins(client: Any) -> None:
    """Every Dask worker computes with this machine's kernels (emo.core.pins), or an EmoError naming it: a worker
    that loaded numpy or torch before emo set the pins would compute other numbers without a word."""
    from emo.core import pins

    here = pins.loaded_kernels()
    for worker, found in client.run(pins.loaded_kernels).items():
        if found != here:
            differ = ", ".join(f"{key} {found.get(key)} (here {value})" for key, value in here.items()
                               if found.get(key) != value)
            raise EmoError(f"compute.scheduler: Dask worker {worker} computes with other kernels: {differ}; start "
                           "its workers with emo's pins in their environment: `env $(emo pins) dask worker "
                           "ADDRESS --nthreads 1`, with the same package versions (make setup)")


def _cluster_result(name: str, future: Any) -> Any:
    """A Dask future's result; a job its workers kept dying on, or one the cluster dropped, as a JobError."""
    from distributed.client import FutureCancelledError
    from distributed.scheduler import KilledWorker

    try:
        return future.result()
    except KilledWorker as err:  # Dask blames every job a dying worker held: this one, or one beside it, killed it
        raise JobError(f"{name}: the Dask workers it was given died, each time ({err}); it or a job beside it ran "
                       "out of memory or was killed: give the workers more memory, or run fewer per machine") from None
    except FutureCancelledError as err:
        raise JobError(f"{name}: the Dask cluster dropped it ({err}); is the scheduler still up?") from None
    except Exception as err:  # the job's own, or a worker that cannot load it (emo not installed there?)
        _note(err, name)
        raise
