"""DVC stage `peer` (not part of `make repro`: it needs the optional extra, `pip install -e '.[peer]'`): the
classical peer, eGeMAPS functionals + SVM, trained on RAVDESS's training actors and scored on its test actors
and on every corpus in `corpora.test` (metrics/peer.json, beside metrics/crosscorpus.json in the report)."""

from pathlib import Path

from emo.core import layout, params
from emo.core.errors import reported
from emo.core.io import write_json
from emo.corpora import corpus
from emo.corpora import inventory as corpus_inventory
from emo.data import datasets, inventory
from emo.studies import peer

if __name__ == "__main__":  # worker processes import this file too
    with reported():
        settings = params.load()
        rows = datasets.read_rows(layout.INVENTORY, "inventory", inventory.read)
        corpora = {name: corpus_inventory(Path("data/corpora") / name, corpus(name)) for name in settings.corpora.test}
        metrics = peer.evaluate(rows, corpora, settings.audio.workers, settings.train.seeds[0],
                                scheduler=settings.compute.scheduler)
        write_json(Path("metrics/peer.json"), metrics)
    for name, scores in metrics[peer.NAME].items():
        if isinstance(scores, dict):
            print(f"peer {peer.NAME} on {name}: accuracy {scores['accuracy']:.3f} UAR {scores['uar']:.3f} "
                  f"(n {scores['n']})")
