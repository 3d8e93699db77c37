"""emo.experiments.hybrid: utterance functionals, the SVM beside the CNN, and the product of their probabilities."""

import numpy as np
import pytest

from emo.experiments import hybrid
from emo.experiments.hybrid import HybridSettings


def test_functionals_are_each_bins_statistics_over_frames():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(hybrid.CHUNK + 3, 4, 30)).astype(np.float32)  # more than one chunk
    got = hybrid.functionals(x)
    assert got.shape == (len(x), 20)
    clip = x[-1].astype(np.float64)
    expected = np.concatenate([clip.mean(1), clip.std(1), np.percentile(clip, 10, axis=1),
                               np.percentile(clip, 90, axis=1), np.diff(clip, axis=1).std(1)])
    np.testing.assert_allclose(got[-1], expected, rtol=1e-12)
    with pytest.raises(ValueError, match=r"\[clips, bins, frames >= 2\]"):
        hybrid.functionals(x[:, :, :1])


def test_fuse_is_the_normalised_product_and_keeps_the_cnn_where_they_share_no_class():
    cnn = np.array([[0.6, 0.4, 0.0], [1.0, 0.0, 0.0]])
    svm = np.array([[0.2, 0.8, 0.0], [0.0, 0.5, 0.5]])
    fused = hybrid.fuse(cnn, svm)
    np.testing.assert_allclose(fused[0], [0.12 / 0.44, 0.32 / 0.44, 0.0])
    np.testing.assert_array_equal(fused[1], cnn[1])
    assert fused[0].argmax() == 1  # the SVM's confidence turned the CNN's narrow choice


def test_the_svm_learns_a_cue_in_the_bins_spread_and_scores_in_label_columns():
    rng = np.random.default_rng(1)
    y = np.repeat([0, 2, 3], 40)  # label 1 never seen in training
    x = rng.normal(size=(len(y), 6, 20))
    x[y == 2, 1] *= 3.0  # a cue in the spread, not the mean: the CNN's mean/std pooling and this see it alike
    x[y == 3, 4] += 2.0
    model = hybrid.fit(x, y, settings=HybridSettings(svm_c=3.0))
    proba = hybrid.predict_proba(model, x, 4)
    assert proba.shape == (len(y), 4) and np.allclose(proba.sum(1), 1) and (proba[:, 1] == 0).all()
    assert (proba.argmax(1) == y).mean() > 0.9
    again = hybrid.predict_proba(hybrid.fit(x, y, settings=HybridSettings(svm_c=3.0)), x, 4)
    np.testing.assert_array_equal(proba, again)  # deterministic
    assert hybrid.predict_proba(model, x[:0], 4).shape == (0, 4)


@pytest.mark.parametrize("bad", [0, -1.0, "3", True, None])
def test_settings_refuse_a_c_that_is_not_a_positive_number(bad):
    with pytest.raises(ValueError, match="hybrid svm_c must be a number > 0"):
        HybridSettings(svm_c=bad)
