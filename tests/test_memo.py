"""emo.experiments.memo: arrays kept by key, read back as written, never half-written."""

import numpy as np
import pytest

from emo.experiments import memo


def test_arrays_are_found_by_their_key_as_they_were_kept(tmp_path):
    key = {"split": "a.npz", "seeds": [0, 1], "settings": {"lr": 0.002, "model": "temporal"}}
    path, found = memo.find(tmp_path, "cnn", key)
    assert found is None and path.parent == tmp_path / "cnn"
    arrays = {"proba": np.random.default_rng(0).random((2, 5, 8)), "seed": np.array([0, 1])}
    memo.keep(path, **arrays)
    again, back = memo.find(tmp_path, "cnn", dict(reversed(list(key.items()))))  # key order does not matter
    assert again == path and back.keys() == arrays.keys()
    for name, value in arrays.items():
        np.testing.assert_array_equal(back[name], value)
        assert back[name].dtype == value.dtype
    assert memo.find(tmp_path, "cnn", {**key, "seeds": [0]})[1] is None  # another key, another file
    assert memo.find(tmp_path, "svm", key)[1] is None  # another kind, another folder
    assert sorted(p.name for p in (tmp_path / "cnn").iterdir()) == [path.name]  # no temporary left


def test_without_a_cache_nothing_is_found_or_written(tmp_path):
    assert memo.find(None, "cnn", {"a": 1}) == (None, None)
    memo.keep(None, proba=np.zeros(3))
    assert list(tmp_path.iterdir()) == []


def test_a_write_that_fails_leaves_nothing_under_the_name(tmp_path, monkeypatch):
    path, _ = memo.find(tmp_path, "svm", {"svm_c": 3.0})

    def broken(file, **arrays):
        file.write(b"half")
        raise OSError("disk gone")

    monkeypatch.setattr(memo.np, "savez", broken)
    with pytest.raises(OSError, match="disk gone"):
        memo.keep(path, proba=np.zeros(3))
    assert memo.find(tmp_path, "svm", {"svm_c": 3.0})[1] is None and list(path.parent.iterdir()) == []


def test_a_damaged_file_counts_as_not_kept_and_is_written_again(tmp_path):
    path, _ = memo.find(tmp_path, "cnn", {"seed": 0})
    memo.keep(path, proba=np.arange(6.0))
    whole = path.read_bytes()
    for damaged in (whole[: len(whole) // 2], b"", b"not an npz"):
        path.write_bytes(damaged)
        assert memo.find(tmp_path, "cnn", {"seed": 0}) == (path, None)
    memo.keep(path, proba=np.arange(6.0))
    np.testing.assert_array_equal(memo.find(tmp_path, "cnn", {"seed": 0})[1]["proba"], np.arange(6.0))
