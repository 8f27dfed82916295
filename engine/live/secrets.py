"""API keys: loaded from the environment or a private (0600) file, and scrubbed
from every text that leaves the process.

Why: a key in a log line, a journal entry or an exception shown in the UI is a
key handed to whoever reads it. Every key loaded here is registered; ``redact``
replaces each registered value (and anything that looks like an auth header)
with ``***``; ``install_log_redaction`` does the same for every log record,
whichever library wrote it (alpaca-py logs websocket errors on its own).
"""
from __future__ import annotations

import logging
import os
import re
import stat
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Optional

ENV_KEY_ID = "APCA_API_KEY_ID"
ENV_SECRET_KEY = "APCA_API_SECRET_KEY"
ENV_KEY_FILE = "COCKPIT_ALPACA_KEY_FILE"  # a private file holding the pair, when the environment does not
MASK = "***"
# shorter values would scrub ordinary words; real keys are 20+ characters
MIN_SECRET_LEN = 6

_lock = threading.Lock()
_registered: set[str] = set()
_pattern: Optional[re.Pattern[str]] = None

# header/field names whose values are secret even when the value was never registered
_FIELD_RE = re.compile(
    r"(?i)(APCA-API-SECRET-KEY|APCA-API-KEY-ID|secret_key|key_id|\"secret\"|'secret'|authorization)"
    r"(\"?'?\s*[:=]\s*\"?'?)([^\s\"',}]+)"
)


class SecretsError(ValueError):
    """Keys could not be loaded; the message says which and how to fix it (never the value)."""


@dataclass(frozen=True)
class AlpacaKeys:
    key_id: str = field(repr=False)
    secret_key: str = field(repr=False)
    source: str = "env"  # "env" | the file path

    def __repr__(self) -> str:
        return f"AlpacaKeys(key_id={MASK}, secret_key={MASK}, source={self.source!r})"

    __str__ = __repr__


def register_secret(value: Optional[str]) -> None:
    """Remember a value so ``redact`` scrubs it from now on."""
    global _pattern
    if not value or len(value) < MIN_SECRET_LEN:
        return
    with _lock:
        if value in _registered:
            return
        _registered.add(value)
        # longest first so a key that contains another is scrubbed whole
        alternatives = sorted(_registered, key=len, reverse=True)
        _pattern = re.compile("|".join(re.escape(v) for v in alternatives))


def redact(text: object, extra: Iterable[str] = ()) -> str:
    """``text`` as a string with every registered secret (and ``extra`` values,
    and auth-header values) replaced by ``***``."""
    s = text if isinstance(text, str) else str(text)
    pattern = _pattern
    if pattern is not None:
        s = pattern.sub(MASK, s)
    for value in extra:
        if value and len(value) >= MIN_SECRET_LEN:
            s = s.replace(value, MASK)
    return _FIELD_RE.sub(lambda m: m.group(1) + m.group(2) + MASK, s)


def _parse_key_file(text: str) -> dict[str, str]:
    """KEY=VALUE or KEY = "VALUE" lines (also valid TOML); '#' comments."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):]
        if "=" not in line:
            continue
        name, _, value = line.partition("=")
        values[name.strip()] = value.strip().strip("'\"")
    return values


def load_alpaca_keys(
    env: Optional[Mapping[str, str]] = None, key_file: Optional[os.PathLike | str] = None
) -> Optional[AlpacaKeys]:
    """Keys from ``APCA_API_KEY_ID`` / ``APCA_API_SECRET_KEY`` in the environment,
    else from ``key_file`` (default: the path in ``COCKPIT_ALPACA_KEY_FILE``;
    same names, KEY=VALUE lines). The file must be
    private to its owner (mode 0600 or stricter): a key file others can read
    is refused. None when neither source has keys; SecretsError when only one
    of the pair is set or the file is unsafe."""
    env = os.environ if env is None else env
    key_id = env.get(ENV_KEY_ID, "").strip()
    secret = env.get(ENV_SECRET_KEY, "").strip()
    source = "env"
    if key_file is None:
        key_file = env.get(ENV_KEY_FILE) or None
    if not key_id and not secret and key_file is not None:
        path = Path(key_file).expanduser()
        if not path.exists():
            return None
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise SecretsError(
                f"key file {path} is readable by others (mode {mode:04o}); run: chmod 600 {path}"
            )
        values = _parse_key_file(path.read_text())
        key_id = values.get(ENV_KEY_ID, "").strip()
        secret = values.get(ENV_SECRET_KEY, "").strip()
        source = str(path)
    if not key_id and not secret:
        return None
    if not key_id or not secret:
        missing = ENV_KEY_ID if not key_id else ENV_SECRET_KEY
        raise SecretsError(f"{missing} is not set ({source}): Alpaca needs both the key id and the secret key")
    register_secret(key_id)
    register_secret(secret)
    return AlpacaKeys(key_id=key_id, secret_key=secret, source=source)


# --------------------------------------------------------------------------- logging

_factory_installed = False


def install_log_redaction() -> None:
    """Scrub secrets from every log record created from now on, whoever logs it.

    A record factory (not a handler filter) so records from any library and
    any handler attached later are covered; the formatted message and any
    exception text are redacted at creation. Idempotent."""
    global _factory_installed
    with _lock:
        if _factory_installed:
            return
        _factory_installed = True
    previous = logging.getLogRecordFactory()

    def factory(*args, **kwargs) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep what we can, redacted
            message = f"{record.msg} {record.args}"
        record.msg = redact(message)
        record.args = ()
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return record

    logging.setLogRecordFactory(factory)
