"""One symbol's dataset on its way to a sweep's workers, sent as little as possible.

Why: a symbol-year of bars (with volume at price) pickles to ~20 MB in ~0.5 s of
CPU and unpickles in ~0.3 s; sent with every task and verification job that was
~10 s of CPU of a year's 10-symbol grid, on the same two cores as the runs.

- A local process pool that forks (Linux) starts its workers from this process at
  the sweep's first submit, after the data was loaded: a worker finds the dataset
  in its own memory (``_IN_THIS_PROCESS``, filled before the fork), so only a key
  travels (``inherit``);
- a worker forked before the dataset existed (a pool an earlier sweep started, as
  walk-forward folds do) raises DataNotInherited, and the caller sends the task
  again with the data (``inherit = False``);
- anywhere else (Dask, a pool that spawns) the dataset is pickled once, when first
  sent (in the executor's feeder thread, while the workers compute), and each
  worker keeps the last two it unpickled.
"""
from __future__ import annotations

import multiprocessing
import pickle
import weakref
from concurrent.futures import Executor, ProcessPoolExecutor
from typing import Optional

from .data import Dataset

_IN_THIS_PROCESS: dict[tuple, Dataset] = {}  # the datasets a forked worker inherits, by key
_UNPICKLED: dict[tuple, Dataset] = {}  # a worker's last few unpickled datasets, by key
_KEEP_UNPICKLED = 2  # ~80 MB a symbol-year each


class DataNotInherited(RuntimeError):
    """A worker was forked before this dataset existed: send it the data."""


def forks_workers(executor: Executor) -> bool:
    """Whether ``executor``'s workers are forked from this process (they inherit its memory)."""
    return isinstance(executor, ProcessPoolExecutor) and multiprocessing.get_start_method() == "fork"


class SymbolData:
    """One symbol's dataset for a worker: ``get()`` there (or here, with the inline
    executor, where it is the dataset itself and is never pickled)."""

    def __init__(self, ds: Dataset) -> None:
        self.key = (ds.fingerprint, ds.symbols[0] if ds.symbols else "")
        self._ds: Optional[Dataset] = ds
        self._blob = b""
        # send only the key (the workers were forked with the dataset in memory): None until the
        # sweep knows its executor, False once a worker was found without it
        self.inherit: Optional[bool] = None
        _IN_THIS_PROCESS[self.key] = ds
        weakref.finalize(self, _forget, self.key, ds)

    def __getstate__(self) -> dict:
        if self.inherit:
            return {"key": self.key, "_ds": None, "_blob": b"", "inherit": True}
        if not self._blob:
            self._blob = pickle.dumps(self._ds, protocol=pickle.HIGHEST_PROTOCOL)
        return {"key": self.key, "_ds": None, "_blob": self._blob, "inherit": False}

    def get(self) -> Dataset:
        if self._ds is not None:
            return self._ds
        got = _IN_THIS_PROCESS.get(self.key)
        if got is None:
            got = _UNPICKLED.get(self.key)
        if got is None:
            if not self._blob:
                raise DataNotInherited(f"worker has no copy of {self.key[1]} ({self.key[0]})")
            while len(_UNPICKLED) >= _KEEP_UNPICKLED:
                _UNPICKLED.pop(next(iter(_UNPICKLED)))
            got = _UNPICKLED[self.key] = pickle.loads(self._blob)
        return got


def _forget(key: tuple, ds: Dataset) -> None:
    if _IN_THIS_PROCESS.get(key) is ds:
        del _IN_THIS_PROCESS[key]


def symbol_datasets(ds: Dataset, symbols: Optional[list[str]] = None) -> dict[str, SymbolData]:
    """Each symbol's data as the workers get it."""
    return {s: SymbolData(Dataset(ds.kind, {s: ds.series[s]}, ds.description))
            for s in dict.fromkeys(ds.symbols if symbols is None else symbols)}
