"""A blocking face on the Store for code that has no event loop: the backtest
CLI, a sweep worker process, a script. It owns a private event loop
(``asyncio.Runner``) and runs each store coroutine to completion on it.

``record_*`` calls only enqueue; the queue is written when a blocking call
(``flush``, any read, ``close``) gives the loop time to run.
"""
from __future__ import annotations

import asyncio
import inspect
from typing import Any, Optional

from engine.store.core import Store


class SyncStore:
    def __init__(self, url_or_path: Optional[str] = None, **open_kwargs: Any) -> None:
        self._runner = asyncio.Runner()
        try:
            self._store: Store = self._runner.run(Store.open(url_or_path, **open_kwargs))
        except BaseException:
            self._runner.close()
            raise

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if inspect.iscoroutinefunction(attr):
            def blocking(*args: Any, **kwargs: Any) -> Any:
                return self._runner.run(attr(*args, **kwargs))

            blocking.__name__ = name
            blocking.__doc__ = attr.__doc__
            return blocking
        return attr

    def close(self) -> None:
        try:
            self._runner.run(self._store.close())
        finally:
            self._runner.close()

    def __enter__(self) -> "SyncStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def open_sync(url_or_path: Optional[str] = None, **open_kwargs: Any) -> SyncStore:
    """Open a store for blocking use: ``with open_sync(path) as st: st.save_run(...)``."""
    return SyncStore(url_or_path, **open_kwargs)
