"""DVC stage `train@FEATURE` (both balances of an audio feature), `video_train` (both balances), `fusion_train`:
the `train.preset` recipe, one model per seed (and per fold in k-fold mode), `train.workers` at a time."""

import logging
import sys
from pathlib import Path

from emo.core import params, pins
from emo.core.errors import reported
from emo.data import datasets
from emo.learn import checkpoints, hybrid, parallel, train

if __name__ == "__main__":  # worker processes must not run the stage again
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    with reported():  # a stop anywhere (bad params, missing inputs, a diverging loss) writes no model file
        p = params.load()
        settings = p.train.settings
        device = train.resolve_device(p.train.device)
        models = datasets.stage_models(sys.argv[1])
        specs = [(datasets.ModelInputs(model, balance, settings.speaker_norm, p.fusion),
                  datasets.model_folds(model, balance, p.fusion), datasets.model_name(model, balance))
                 for model, balance in models]
        trained = parallel.train_models(specs, p.train.seeds, settings, device, p.train.workers, p.train.threads,
                                        scheduler=p.compute.scheduler)
        fitted = hybrid.fit_models([(model, load, folds) for (model, _), (load, folds, _) in zip(models, specs,
                                                                                                  strict=True)],
                                   settings.hybrid_svm_c, workers=p.train.workers, scheduler=p.compute.scheduler,
                                   weight=settings.hybrid_svm_weight)
        for (model, balance), (results, shapes), svms in zip(models, trained, fitted, strict=True):
            name = datasets.model_name(model, balance)
            saved = checkpoints.checkpoint(results, settings, shapes, preset=p.train.preset, model=model,
                                           balance=balance, fusion=vars(p.fusion) if model == datasets.FUSION else None,
                                           device=str(device), kernels=pins.kernels(), svms=svms)
            checkpoints.save(saved, Path(f"models/{name}.pt"))
            train.write_history(results[0].history, Path(f"plots/history/{name}.csv"))
            print(f"train {name}: best epochs {[r.best_epoch for r in results]} on {device}")
