"""The features of one speaker group while `emo predict` scores it, and the group's own per-bin statistics.

A group is held in memory up to HOLD_BYTES, then spilled to an anonymous temporary file (unlinked as soon as
it is made, so the system removes it even if the process is killed), so that a folder of ten thousand clips
costs no more memory than one of a few hundred. The statistics are computed a clip at a time, yet equal bit for
bit to `split.bin_stats` of the whole group at once.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator

import numpy as np

from emo.core.text import printable
from emo.data import split
from emo.predict.jobs import PredictError

#: Features of one group held in memory before the group is spilled to disk (about 340 clips of the default
#: 64 x 188 log-mel, one of a 10-minute recording's 200 parts).
HOLD_BYTES = 16 * 2**20


class GroupFeatures:
    """Each job's features {feature: [parts, bins, frames]} by a key, in the order added; a context manager that
    closes (and so removes) its spill file."""

    def __init__(self, hold_bytes: int | None = None):
        self.hold_bytes = HOLD_BYTES if hold_bytes is None else hold_bytes
        self._held: dict[object, dict[str, np.ndarray]] = {}
        self._spilled: dict[object, dict[str, tuple[int, tuple[int, ...], np.dtype]]] = {}
        self._shapes: dict[object, dict[str, tuple[int, ...]]] = {}  # every job's, held or spilled, in order
        self._bytes = 0
        self._file = None

    def __enter__(self) -> GroupFeatures:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Drop what is held and remove the spill file."""
        self._held.clear()
        if self._file is not None:
            self._file.close()
            self._file = None

    @property
    def spilled(self) -> bool:
        """Whether the group outgrew HOLD_BYTES and went to disk."""
        return self._file is not None

    def add(self, key: object, features: dict[str, np.ndarray]) -> None:
        """Keep one job's features (the arrays themselves, or a copy on disk once the group is too big)."""
        self._shapes[key] = {feature: x.shape for feature, x in features.items()}
        self._held[key] = features
        self._bytes += sum(x.nbytes for x in features.values())
        if self._bytes > self.hold_bytes or self._file is not None:
            self._spill()

    def get(self, key: object) -> dict[str, np.ndarray]:
        """One job's features, as added."""
        return {feature: self._one(key, feature) for feature in self._shapes[key]}

    def _one(self, key: object, feature: str) -> np.ndarray:
        if key in self._held:
            return self._held[key][feature]
        offset, shape, dtype = self._spilled[key][feature]
        self._file.seek(offset)
        return np.frombuffer(self._file.read(int(np.prod(shape)) * dtype.itemsize), dtype).reshape(shape)

    def clips(self, feature: str) -> int:
        """How many jobs have this feature (a long recording's parts count once)."""
        return sum(feature in shapes for shapes in self._shapes.values())

    def parts(self, key: object) -> int:
        """How many rows (a long recording's parts) the job's features have."""
        return max((shape[0] for shape in self._shapes[key].values()), default=0)

    def stats(self, feature: str) -> tuple[np.ndarray, np.ndarray]:
        """The per-bin mean and floored std (float32) over every part and frame of the group's `feature` arrays,
        as `split.bin_stats` gives them for their concatenation.

        numpy sums a C-ordered [clips, bins, frames] float64 array over clips and frames as a running sum over
        the clips of each clip's (pairwise) sum over its frames, and the std as the mean of the squared
        deviations from that mean; two passes a clip at a time add the same numbers in the same order
        (tests/test_predict_hostile.py checks it against `split.bin_stats`)."""
        total, count = 0.0, 0  # numpy's sum starts from its identity, 0
        for x in self._blocks(feature):
            for row in x.sum(axis=2):
                total = total + row
            count += x.shape[0] * x.shape[2]
        mean = total / count
        squares = 0.0
        for x in self._blocks(feature):
            deviation = x - mean[None, :, None]
            for row in (deviation * deviation).sum(axis=2):
                squares = squares + row
        std = np.sqrt(squares / count)
        std = np.maximum(std, split.STD_FLOOR * np.median(std)) + 1e-6  # as split.bin_stats floors it
        return mean.astype(np.float32), std.astype(np.float32)

    def _blocks(self, feature: str) -> Iterator[np.ndarray]:
        """The group's `feature` arrays in the order added, as float64 (as `split.bin_stats` reads them)."""
        for key, shapes in self._shapes.items():
            if feature in shapes:
                yield np.asarray(self._one(key, feature), dtype=np.float64)

    def _spill(self) -> None:
        """Write every held array to the spill file (made on first use) and let go of them."""
        try:
            if self._file is None:
                self._file = tempfile.TemporaryFile(prefix="emo-predict-")
            for key, features in self._held.items():
                places = {}
                for feature, x in features.items():
                    self._file.seek(0, 2)
                    places[feature] = (self._file.tell(), x.shape, x.dtype)
                    self._file.write(np.ascontiguousarray(x).tobytes())
                self._spilled[key] = places
        except OSError as err:
            raise PredictError(f"{printable(tempfile.gettempdir())}: cannot keep a large speaker group's features "
                               f"there ({err.strerror or err}); free some space, or set TMPDIR to a folder with room"
                               ) from None
        self._held.clear()
