"""emo.learn.hybrid: utterance functionals, the SVM beside each audio CNN kept as tensors, its probabilities in
numpy (as scikit-learn computes them), and the product of its probabilities with the CNN's."""

from dataclasses import dataclass

import numpy as np
import pytest
import torch

from emo.learn import checkpoints, hybrid


def test_functionals_are_each_bins_statistics_over_frames_in_float32_values():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(hybrid.CHUNK + 3, 4, 30)).astype(np.float32)  # more than one chunk
    got = hybrid.functionals(x)
    assert got.shape == (len(x), 20) and got.dtype == np.float64
    np.testing.assert_array_equal(got, got.astype(np.float32))  # stored losslessly as float32
    clip = x[-1].astype(np.float64)
    expected = np.concatenate([clip.mean(1), clip.std(1), np.percentile(clip, 10, axis=1),
                               np.percentile(clip, 90, axis=1), np.diff(clip, axis=1).std(1)])
    np.testing.assert_allclose(got[-1], expected, rtol=1e-6)
    with pytest.raises(ValueError, match=r"\[clips, bins, frames >= 2\]"):
        hybrid.functionals(x[:, :, :1])


def test_fuse_is_the_normalised_product_and_keeps_the_cnn_where_they_share_no_class():
    cnn = np.array([[0.6, 0.4, 0.0], [1.0, 0.0, 0.0]])
    svm = np.array([[0.2, 0.8, 0.0], [0.0, 0.5, 0.5]])
    fused = hybrid.fuse(cnn, svm)
    np.testing.assert_allclose(fused[0], [0.12 / 0.44, 0.32 / 0.44, 0.0])
    np.testing.assert_array_equal(fused[1], cnn[1])
    assert fused[0].argmax() == 1  # the SVM's confidence turned the CNN's narrow choice


def test_fuse_weighs_the_svm_by_its_exponent_and_weight_one_is_the_plain_product():
    rng = np.random.default_rng(0)
    cnn, svm = rng.dirichlet(np.ones(8), size=50), rng.dirichlet(np.ones(8), size=50)
    plain = cnn * svm / (cnn * svm).sum(1, keepdims=True)
    np.testing.assert_array_equal(hybrid.fuse(cnn, svm, 1.0), hybrid.fuse(cnn, svm))
    np.testing.assert_allclose(hybrid.fuse(cnn, svm), plain, rtol=1e-12)
    squared = cnn * svm ** 2
    np.testing.assert_allclose(hybrid.fuse(cnn, svm, 2.0), squared / squared.sum(1, keepdims=True), rtol=1e-12)
    # log-linear pooling: a larger weight moves the fused choice towards the SVM's
    agree = [(hybrid.fuse(cnn, svm, w).argmax(1) == svm.argmax(1)).mean() for w in (0.5, 1.0, 2.0, 8.0)]
    assert agree == sorted(agree) and agree[-1] > agree[0]


def _clips(labels, seed=1, bins=6, frames=20):
    rng = np.random.default_rng(seed)
    y = np.asarray(labels)
    x = rng.normal(size=(len(y), bins, frames)).astype(np.float32)
    for k, label in enumerate(np.unique(y)):  # a cue in the spread of one bin, the level of another
        x[y == label, k % bins] *= 1.0 + k
        x[y == label, (k + 3) % bins] += 0.7 * k
    return x, y


def _sklearn(x, y, c):
    """The model `hybrid.fit` keeps, as scikit-learn has it."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    folds = min(hybrid.CALIBRATION_FOLDS, int(np.unique(y, return_counts=True)[1].min()))
    return CalibratedClassifierCV(make_pipeline(StandardScaler(), SVC(C=c, gamma="scale")), method="sigmoid",
                                  cv=folds, ensemble=False).fit(hybrid.functionals(x), y)


@pytest.mark.parametrize("labels", [np.repeat([0, 2, 3, 5], 30), np.repeat([1, 4], 25),
                                    np.repeat([0, 6, 7], [3, 20, 20])],
                         ids=["four classes", "two classes", "a class of 3 clips"])
def test_the_kept_svm_gives_scikit_learns_probabilities_in_label_columns(labels):
    x, y = _clips(labels)
    kept = hybrid.fit(x, y, svm_c=3.0, fold=2)
    assert kept["fold"] == 2 and kept["support_rows"].dtype == torch.float32
    test, _ = _clips(labels, seed=2)
    got = hybrid.probabilities(kept, test, 8)
    reference = _sklearn(x, y, 3.0)
    np.testing.assert_allclose(got[:, np.unique(y)], reference.predict_proba(hybrid.functionals(test)), atol=1e-10)
    assert got.shape == (len(test), 8) and np.allclose(got.sum(1), 1)
    assert (got[:, np.setdiff1d(np.arange(8), y)] == 0).all()  # labels never trained on
    assert (hybrid.probabilities(kept, x, 8).argmax(1) == y).mean() > 0.9  # it learnt the cues
    again = hybrid.fit(x, y, svm_c=3.0, fold=2)
    assert all(torch.equal(kept[k], again[k]) if torch.is_tensor(kept[k]) else kept[k] == again[k] for k in kept)
    assert hybrid.probabilities(kept, test[:0], 8).shape == (0, 8)


@pytest.mark.parametrize("labels", [np.repeat([3], 10), np.repeat([0, 1], [10, 1])], ids=["one class", "one clip"])
def test_too_few_clips_of_a_class_is_a_clear_error_naming_the_switch(labels):
    x, y = _clips(labels)
    with pytest.raises(hybrid.HybridError, match=r"at least 2 training clips .*hybrid_svm_c: 0 for the CNN alone"):
        hybrid.fit(x, y, svm_c=3.0)


def test_only_audio_cnns_of_a_recipe_with_a_positive_c_get_an_svm():
    assert hybrid.applies("logmel", 3.0) and hybrid.applies("mfcc", 0.5)
    assert not hybrid.applies("logmel", 0.0)
    assert not hybrid.applies("video", 3.0) and not hybrid.applies("fusion", 3.0)


def test_a_run_is_fused_with_its_own_folds_svm_and_left_alone_without_one():
    x, y = _clips(np.repeat([0, 1, 2], 12))
    svms = [hybrid.fit(x, y, svm_c=1.0, fold=0), hybrid.fit(x[::-1].copy(), y, svm_c=1.0, fold=1)]
    cnn = np.full((len(x), 8), 1 / 8)
    saved = {"svms": svms}
    np.testing.assert_array_equal(hybrid.with_svm(saved, {"fold": 1}, x, cnn),
                                  hybrid.fuse(cnn, hybrid.probabilities(svms[1], x, 8)))
    assert not np.array_equal(hybrid.with_svm(saved, {"fold": 0}, x, cnn), hybrid.with_svm(saved, {"fold": 1}, x, cnn))
    memo = {}  # the seeds of a fold share its SVM: scored once, the same probabilities
    twice = [hybrid.with_svm(saved, {"fold": 1, "seed": s}, x, cnn, memo) for s in (0, 1)]
    assert list(memo) == [1] and all(np.array_equal(t, hybrid.with_svm(saved, {"fold": 1}, x, cnn)) for t in twice)
    assert hybrid.with_svm(saved, {"fold": None}, x, cnn) is cnn  # no SVM of the hold-out split here
    assert hybrid.with_svm({"svms": []}, {}, x, cnn) is cnn and hybrid.with_svm({}, {}, x, cnn) is cnn


def test_a_run_is_fused_with_the_weight_its_svm_was_fitted_with_and_an_older_svm_weighs_one():
    x, y = _clips(np.repeat([0, 1, 2], 12))
    cnn = np.random.default_rng(3).dirichlet(np.ones(8), size=len(x))
    weighted = hybrid.fit(x, y, svm_c=1.0, fold=0, weight=3.0)
    assert weighted["weight"] == 3.0 and hybrid.fit(x, y, svm_c=1.0)["weight"] == 1.0
    svm = hybrid.probabilities(weighted, x, 8)
    np.testing.assert_array_equal(hybrid.with_svm({"svms": [weighted]}, {"fold": 0}, x, cnn),
                                  hybrid.fuse(cnn, svm, 3.0))
    older = {k: v for k, v in weighted.items() if k != "weight"}  # a checkpoint saved before the key
    np.testing.assert_array_equal(hybrid.with_svm({"svms": [older]}, {"fold": 0}, x, cnn), hybrid.fuse(cnn, svm))


@dataclass(frozen=True)
class _Loader:
    shift: float

    def __call__(self, fold):
        x, y = _clips(np.repeat([0, 1, 2], 10), seed=fold or 0)

        @dataclass
        class Rows:
            x: np.ndarray
            y: np.ndarray

        return {"train": Rows(x + self.shift, y)}


def test_fit_models_fits_each_fold_of_each_audio_model_the_same_on_any_worker_count():
    models = [("logmel", _Loader(0.0), [0, 1]), ("video", _Loader(0.0), [0, 1]), ("mfcc", _Loader(1.0), [None])]
    one = hybrid.fit_models(models, 3.0, workers=1)
    two = hybrid.fit_models(models, 3.0, workers=2)
    assert [[s["fold"] for s in svms] for svms in one] == [[0, 1], [], [None]]
    for a, b in zip(sum(one, []), sum(two, []), strict=True):
        assert all(torch.equal(a[k], b[k]) for k in a if torch.is_tensor(a[k]))
    assert hybrid.fit_models(models, 0.0, workers=1) == [[], [], []]


def test_a_checkpoint_with_svms_is_read_back_weights_only(tmp_path):
    x, y = _clips(np.repeat([0, 1, 2], 12))
    kept = hybrid.fit(x, y, svm_c=3.0)
    saved = {"settings": {}, "input_shapes": [(6, 20)], "preset": "ours", "svms": [kept],
             "runs": [{"seed": 0, "fold": None, "state": {}, "best_epoch": 1, "seconds": 1.0, "history": []}]}
    checkpoints.save(saved, tmp_path / "m.pt")
    back = checkpoints.load_checkpoint(tmp_path / "m.pt", "fix")
    np.testing.assert_array_equal(hybrid.probabilities(back["svms"][0], x, 8), hybrid.probabilities(kept, x, 8))
    assert back["svms"][0]["weight"] == kept["weight"] == 1.0
