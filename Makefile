# Two entry points (see README): `make repro` runs the pipeline, `make test` runs the tests.
# Each creates .venv with the pinned requirements the first time, and again when they change.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PEER := $(VENV)/.peer
# data.source is `auto`: the folder in $EMO_RAVDESS, else ../shared/ravdess beside the project, else Zenodo
# (emo.fetch.source; the download stage says which). Another source for one run, without editing params.yaml:
#   make repro SOURCE=zenodo    (or a folder, or a Zenodo-compatible record URL)
SOURCE ?=
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: setup repro test bench lint

setup: $(STAMP)

$(STAMP): requirements.txt requirements-nodeps.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -r requirements-nodeps.txt
	$(BIN)/pip uninstall --quiet --disable-pip-version-check -y emo  # the distribution's old name (now emo-ravdess)
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

# The report and the shipped model, with all they need: with video.run: [video] the full report (report@video:
# the video and fusion models too), with the speech audio only (the default, as on our machines) the audio
# report (`emo targets` tells which).
repro: $(STAMP)
ifneq ($(strip $(SOURCE)),)
	$(BIN)/dvc exp run --set-param data.source=$(SOURCE) $$($(BIN)/emo targets)
else
	$(BIN)/dvc repro $$($(BIN)/emo targets)
endif

# The optional extra `peer` (openSMILE, research licence: emo.studies.peer) for the tests only; the pipeline runs without it.
$(PEER): $(STAMP)
	$(BIN)/pip install --quiet --disable-pip-version-check --no-warn-conflicts --no-build-isolation -e '.[peer]'
	touch $@

test: $(STAMP) $(PEER)
	$(BIN)/ruff check emo stages tests bench
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python bench/download.py
	$(BIN)/python bench/featurize.py
	$(BIN)/python bench/video.py
	$(BIN)/dvc repro split
	$(BIN)/python bench/train.py
