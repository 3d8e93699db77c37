"""DVC stage `crosscorpus`: every trained audio model, and the default two-feature ensemble, scored on each corpus in
`corpora.test` over the emotions both share (metrics/crosscorpus.json), with 8-way scores, runs, 95 % bootstrap
intervals and confusions beside (crosscorpus_detail.json, plots/crosscorpus), and per-clip predictions
(predictions/crosscorpus)."""

from emo.core import params
from emo.core.errors import reported
from emo.learn import ensemble
from emo.studies import crosscorpus

with reported():
    p = params.load()
    names = p.corpora.test
    metrics, detail, pooled = crosscorpus.evaluate(names, samples=p.evaluate.bootstrap, seed=p.evaluate.seed,
                                                   ensembles=(ensemble.default(p.ensemble.mfcc_weight),))
    crosscorpus.write_outputs(metrics, detail, pooled)
for model, scores in metrics.items():
    print(f"crosscorpus {model}: " + (", ".join(f"{name} accuracy {scores[name]['accuracy']:.3f} UAR "
                                                f"{scores[name]['uar']:.3f} (n {scores[name]['n']})"
                                                for name in names) or "no corpus to test"))
