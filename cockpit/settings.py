"""UI settings that outlive a run (the theme), kept in a small JSON file in the
user data dir so `t` remembers the trader's choice. Tests point ``path`` at a
temporary directory; nothing else is stored here."""
from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional, get_args

import platformdirs

from engine.config import ThemeName

THEMES: tuple[str, ...] = get_args(ThemeName)
log = logging.getLogger(__name__)


def default_settings_path() -> Path:
    return Path(platformdirs.user_data_dir("cockpit", appauthor=False)) / "ui-settings.json"


@dataclass
class UISettings:
    theme: Optional[str] = None  # None = use config.ui.theme

    @classmethod
    def load(cls, path: Path) -> "UISettings":
        """Read the file; a missing or damaged file gives the defaults (and a log line)."""
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable UI settings %s: %s", path, exc)
            return cls()
        theme = raw.get("theme") if isinstance(raw, dict) else None
        if theme not in THEMES:
            if theme is not None:
                log.warning("ignoring unknown theme %r in %s (allowed: %s)", theme, path, ", ".join(THEMES))
            theme = None
        return cls(theme=theme)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.replace(path)
