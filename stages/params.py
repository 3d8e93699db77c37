"""DVC stage `params`: all of params.yaml validated, every section (emo.core.params), before any other stage runs.

Every other stage depends on data/params.ok, so `dvc repro STAGE` and `dvc exp run -S key=value STAGE` run this check
first, whatever keys STAGE reads: a bad value stops there in one line and no experiment is stored. The file's content
never depends on the values, so a valid change runs this check alone and nothing downstream of it."""

from emo.core import params
from emo.core.errors import reported
from emo.core.io import writing

with reported():
    params.load()
    with writing(params.CHECKED) as temporary:
        temporary.write_text(params.CHECKED_TEXT)
print(f"params: params.yaml is valid, every section ({params.CHECKED})")
