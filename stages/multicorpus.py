"""DVC stage `multicorpus`: models trained on the corpora of `corpora.train`, each alone and together, scored within
each corpus, on the union and leave-one-corpus-out (metrics/multicorpus.json; emo.studies.multicorpus says how)."""

import logging

from emo.core import params
from emo.core.errors import reported
from emo.studies import multicorpus

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
if __name__ == "__main__":  # worker processes import this file too
    with reported():
        out = multicorpus.run(params.load())
    for name, entry in out["within"].items():
        print(f"multicorpus within {name}: accuracy {entry['accuracy']:.3f} UAR {entry['uar']:.3f} (n {entry['n']})")
    for name, entry in {k: v for k, v in out["union"].items() if isinstance(v, dict)}.items():
        print(f"multicorpus union on {name}: accuracy {entry['accuracy']:.3f} UAR {entry['uar']:.3f} (n {entry['n']})")
    for name, entry in out["leave_one_out"].items():
        print(f"multicorpus {'+'.join(entry['trained_on'])} -> {name}: accuracy {entry['accuracy']:.3f} UAR "
              f"{entry['uar']:.3f} (n {entry['n']}, {len(entry['classes'])} classes)")
    print(f"multicorpus: {out['seconds']:.0f} s")
