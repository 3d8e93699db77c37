"""DVC stage `evaluate@FEATURE-BALANCE`, `video_evaluate@BALANCE`, `fusion_evaluate`: test metrics on the
original test clips (of every fold in k-fold mode), confusion data and PNG."""

import sys

from emo.core import params
from emo.core.errors import reported
from emo.learn import evaluate

model, balance = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else ""
with reported():
    p = params.load()
    metrics, actual, predicted = evaluate.evaluate_model(model, balance, p.fusion)
    evaluate.write_outputs(metrics, actual, predicted)
print(f"evaluate {metrics['model']}: accuracy {metrics['accuracy']:.3f} ± {metrics['accuracy_std']:.3f} "
      f"(n_test {metrics['n_test']}, seeds {metrics['seeds']})")
