"""DVC stage `calibrate`: each audio model's temperature, fitted on the validation actors (models/calibration.json,
used by `emo predict`), and its calibration before and after on the test actors and the other corpora
(metrics/calibration.json; reliability bins in plots/calibration.csv)."""

from pathlib import Path

from emo.core import params
from emo.core.errors import reported
from emo.studies import calibration

with reported():
    params.load()  # a bad params.yaml stops every stage before any work
    metrics, records, temperatures = calibration.evaluate(Path.cwd())
    calibration.write_outputs(Path.cwd(), metrics, records, temperatures)
for model, entry in metrics["models"].items():
    scores = ", ".join(f"{split} ECE {entry[split]['before']['ece']:.3f} -> {entry[split]['after']['ece']:.3f}"
                       for split in entry if isinstance(entry[split], dict) and "before" in entry[split])
    print(f"calibrate {model}: T {entry['temperature']:.3f}; {scores}")
