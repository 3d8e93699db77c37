"""Training runs on worker processes: the same models as one after the other, in the same order."""

import os

import pytest
import torch

from emo.core.errors import EmoError
from emo.learn import parallel, train
from toy_training import SETTINGS, ToyInputs, same_models


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs 2 cores to run 2 workers")
def test_two_workers_train_bit_identical_models_in_run_order():
    cpu = torch.device("cpu")
    serial, shapes = parallel.train_runs(ToyInputs(), [0, 1], (0, 1, 2), SETTINGS, cpu, workers=1, progress=False)
    both, both_shapes = parallel.train_runs(ToyInputs(), [0, 1], (0, 1, 2), SETTINGS, cpu, workers=2,
                                            progress=False)
    assert [(r.fold, r.seed) for r in both] == [(f, s) for f in (0, 1) for s in (0, 1, 2)]
    assert shapes == both_shapes == [(16, 20)]
    assert same_models(serial, both)
    assert not same_models(serial[:1], serial[1:2])  # the seeds differ, so the check above could fail


def test_one_worker_equals_a_plain_fit():
    arrays = ToyInputs()(None)
    [result], _ = parallel.train_runs(ToyInputs(), [None], (4,), SETTINGS, torch.device("cpu"), progress=False)
    plain = train.fit(arrays["train"], arrays["val"], SETTINGS, 4, torch.device("cpu"), progress=False)
    plain.fold = None
    assert same_models([result], [plain])


@pytest.mark.parametrize("workers", [1, 2])
def test_an_error_in_a_run_reaches_the_caller(workers):
    with pytest.raises(EmoError, match="fold 1: no training rows"):
        parallel.train_runs(ToyInputs(broken_fold=1), [0, 1], (0,), SETTINGS, torch.device("cpu"),
                            workers=workers, progress=False)


def test_worker_count_and_threads():
    cores = os.cpu_count() or 1
    assert parallel.worker_count(8, 3, torch.device("cpu")) == min(3, cores)
    assert parallel.worker_count(2, 1, torch.device("cpu")) == 1
    assert parallel.worker_count(2, 6, torch.device("cuda")) == 1  # one GPU is shared, not split
    assert parallel.worker_threads(1, 2) == 1
    assert parallel.worker_threads(0, 1) == 0  # torch's own default in a single process
    assert parallel.worker_threads(0, 2) == max(1, cores // 2)


def test_models_of_one_stage_share_the_pool_and_keep_their_own_runs():
    cpu = torch.device("cpu")
    shared = parallel.train_models([(ToyInputs(), [None], "a"), (ToyInputs(broken_fold=5), [0, 1], "b")], (0, 1, 2),
                                   SETTINGS, cpu, workers=2, progress=False)
    alone = [parallel.train_runs(ToyInputs(), [None], (0, 1, 2), SETTINGS, cpu, progress=False),
             parallel.train_runs(ToyInputs(broken_fold=5), [0, 1], (0, 1, 2), SETTINGS, cpu, progress=False)]
    assert [len(results) for results, _ in shared] == [3, 6]
    for (results, shapes), (expected, expected_shapes) in zip(shared, alone, strict=True):
        assert shapes == expected_shapes and same_models(results, expected)


def test_a_training_stage_trains_both_balances_of_an_input():
    from emo.data import datasets

    assert datasets.stage_models("mfcc") == [("mfcc", "unbalanced"), ("mfcc", "balanced")]
    assert datasets.stage_models("video") == [("video", "unbalanced"), ("video", "balanced")]
    assert datasets.stage_models("fusion") == [("fusion", "")]
    assert datasets.train_stage("logmel", "balanced") == "train@logmel"
    with pytest.raises(EmoError, match="unknown model 'mel'"):
        datasets.stage_models("mel")
