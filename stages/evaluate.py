"""DVC stage `evaluate@FEATURE-BALANCE`, `video_evaluate@BALANCE`, `fusion_evaluate`: test metrics on the
original test clips (of every fold in k-fold mode) with 95 % bootstrap intervals, per-clip predictions on the
validation and test clips (predictions/<model>.csv), confusion data and PNG."""

import sys

from emo.core import params
from emo.core.errors import reported
from emo.learn import evaluate

model, balance = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else ""
with reported():
    p = params.load()
    metrics, actual, predicted, table = evaluate.evaluate_model(model, balance, p.fusion,
                                                                samples=p.evaluate.bootstrap, seed=p.evaluate.seed)
    evaluate.write_outputs(metrics, actual, predicted, table)
low, high = metrics["accuracy_ci95"]
print(f"evaluate {metrics['model']}: accuracy {metrics['accuracy']:.3f} ± {metrics['accuracy_std']:.3f}, 95 % CI "
      f"[{low:.3f}, {high:.3f}] (n_test {metrics['n_test']}, seeds {metrics['seeds']})")
