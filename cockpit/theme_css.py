"""A stylesheet that parses each theme's CSS once.

Textual re-parses every CSS source (the app's files and every widget's DEFAULT_CSS)
on each theme switch, into a fresh stylesheet whose parse cache starts empty, because
the theme's variables ($panel, $surface, ...) are substituted while parsing. The
cockpit has three themes and a trader cycles through them with ``t``, so the parsed
rules are kept per set of variables: a switch back to a theme already seen re-uses its
rules and skips the parse (issue 14 item 9: the theme key under load).
"""
from __future__ import annotations

from textual.css.model import RuleSet
from textual.css.stylesheet import Stylesheet

MAX_THEMES_KEPT = 8  # a handful of themes; bounded so a long run cannot grow it


class ThemeCachedStylesheet(Stylesheet):
    """``Stylesheet`` whose ``reparse`` keeps one parse cache per variable set."""

    def __init__(self, *, variables: dict[str, str] | None = None) -> None:
        super().__init__(variables=variables)
        self._caches_by_variables: dict[tuple, dict[tuple, list[RuleSet]]] = {}

    def _cache_for_variables(self) -> dict[tuple, list[RuleSet]]:
        key = tuple(sorted(self._variables.items()))
        cache = self._caches_by_variables.get(key)
        if cache is None:
            if len(self._caches_by_variables) >= MAX_THEMES_KEPT:
                self._caches_by_variables.pop(next(iter(self._caches_by_variables)))
            cache = self._caches_by_variables[key] = {}
        return cache

    def reparse(self) -> None:
        """As ``Stylesheet.reparse`` (a fresh stylesheet, so an error leaves this one
        intact), but the fresh one starts from this variable set's parse cache (keyed
        by each source's text, so a source added since is parsed)."""
        stylesheet = Stylesheet(variables=self._variables)
        stylesheet._parse_cache = self._cache_for_variables()
        for read_from, (css, is_defaults, tie_breaker, scope) in self.source.items():
            stylesheet.add_source(css, read_from=read_from, is_default_css=is_defaults,
                                  tie_breaker=tie_breaker, scope=scope)
        try:
            stylesheet.parse()
        except Exception:
            self._invalid_css.update(stylesheet._invalid_css)
            raise
        self._rules = stylesheet.rules
        self._rules_map = None
        self.source = stylesheet.source
        self._require_parse = False
