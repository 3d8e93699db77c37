"""DVC stage `ensemble`: the default audio model, both features at once (emo.learn.ensemble), from its members'
per-clip predictions: metrics/audio_both_balanced.json with intervals and its gain over the log-mel hybrid alone,
predictions/audio_both_balanced.csv, confusion data and PNG."""

from emo.core import params
from emo.core.errors import reported
from emo.learn import ensemble, evaluate

with reported():
    p = params.load()
    metrics, actual, predicted, table = ensemble.evaluate_ensemble(ensemble.default(p.ensemble.mfcc_weight),
                                                                   samples=p.evaluate.bootstrap, seed=p.evaluate.seed)
    evaluate.write_outputs(metrics, actual, predicted, table)
low, high = metrics["accuracy_ci95"]
gain, first = metrics["gain_over_first_member"]["accuracy"], metrics["gain_over_first_member"]["model"]
print(f"ensemble {metrics['model']}: accuracy {metrics['accuracy']:.3f} ± {metrics['accuracy_std']:.3f}, 95 % CI "
      f"[{low:.3f}, {high:.3f}] (n_test {metrics['n_test']}, seeds {metrics['seeds']}); minus "
      f"{first}: {gain['difference']:+.3f} [{gain['low']:+.3f}, {gain['high']:+.3f}]")
