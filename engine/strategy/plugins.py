"""A trader's own setups, from Python files (``[strategy.plugins]`` in cockpit.toml,
``--setup-file`` on the command line).

A setup file defines one or more classes with the small API every built-in setup
has (engine/strategy/base.py): a ``name``, ``__init__(symbol, params)`` and
``on_bar(snap, now_ns) -> Optional[Signal]``; optionally ``needs`` (the analytics
it reads; all of them when left out) and ``learns_from_history`` (it also sees the
previous session's bars at start). README.md has a 20-line example.

The file is imported once per process (again when it changes on disk). A file
that does not exist, does not import, or defines no such class is a ConfigError
naming the file and what is wrong. What a setup does at run time is its own
business, but an exception from ``on_bar`` never stops the engine: the engine
disables that setup for the symbol and journals the traceback
(``Engine._setup_failed``).
"""
from __future__ import annotations

import hashlib
import importlib.util
import inspect
import sys
from pathlib import Path
from typing import Any

from ..config import ConfigError

_LOADED: dict[tuple[str, int], dict[str, type]] = {}


def _is_setup_class(obj: Any, module: str) -> bool:
    return (inspect.isclass(obj) and obj.__module__ == module and isinstance(getattr(obj, "name", None), str)
            and callable(getattr(obj, "on_bar", None)))


def load_setup_file(path: str) -> dict[str, type]:
    """The setup classes a file defines, by name (imported once per file version)."""
    p = Path(path).expanduser().resolve()
    if not p.is_file():
        raise ConfigError(f"setup file {str(p)!r} does not exist")
    key = (str(p), p.stat().st_mtime_ns)
    found = _LOADED.get(key)
    if found is not None:
        return found
    module_name = "cockpit_setup_" + hashlib.sha1(str(p).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(module_name, p)
    if spec is None or spec.loader is None:
        raise ConfigError(f"setup file {p}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickling look modules up by name
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(module_name, None)
        raise ConfigError(f"setup file {p} does not import: {type(exc).__name__}: {exc}") from None
    found = {obj.name: obj for obj in vars(module).values() if _is_setup_class(obj, module_name)}
    if not found:
        raise ConfigError(f"setup file {p} defines no setup: a class with a `name` and an "
                          "`on_bar(snap, now_ns)` method (see README.md, 'Your own setup')")
    _LOADED[key] = found
    return found


def plugin_classes(plugins: dict[str, str]) -> dict[str, type]:
    """``[strategy.plugins]`` (name -> file) as classes; each file must define its name."""
    out: dict[str, type] = {}
    for name, path in plugins.items():
        classes = load_setup_file(path)
        cls = classes.get(name)
        if cls is None:
            raise ConfigError(f"strategy.plugins.{name}: {path} defines {', '.join(sorted(classes))}, not {name!r}")
        out[name] = cls
    return out


def plugins_of_files(paths: list[str]) -> dict[str, str]:
    """``--setup-file`` paths as ``[strategy.plugins]`` entries: every setup each file defines."""
    out: dict[str, str] = {}
    for path in paths:
        for name in load_setup_file(path):
            out[name] = str(Path(path).expanduser().resolve())
    return out
