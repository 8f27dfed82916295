"""A stylesheet that parses each theme's CSS once, and works out each widget's
component styles once per theme.

Textual re-parses every CSS source (the app's files and every widget's DEFAULT_CSS)
on each theme switch, into a fresh stylesheet whose parse cache starts empty, because
the theme's variables ($panel, $surface, ...) are substituted while parsing. The
cockpit has three themes and a trader cycles through them with ``t``, so the parsed
rules are kept per set of variables: a switch back to a theme already seen re-uses its
rules and skips the parse (issue 14 item 9: the theme key under load).

Component styles: a widget's component classes (a DataTable's cursor, header and
row styles; the panes' tones: about 160 in the cockpit) are each styled by Textual
as a virtual node run through every rule, on every restyle: more than half of a
theme switch's restyle (~25 ms of its ~50 ms of CPU). What they resolve to depends
only on the rules (the theme's variables) and on the path from the App to the widget
(each node's type, id, classes and pseudo-classes), so each widget keeps them per
theme and re-uses them while that path is unchanged.
"""
from __future__ import annotations

from textual.css.model import RuleSet
from textual.css.stylesheet import Stylesheet
from textual.dom import DOMNode

MAX_THEMES_KEPT = 8  # a handful of themes; bounded so a long run cannot grow it


class ThemeCachedStylesheet(Stylesheet):
    """``Stylesheet`` whose ``reparse`` keeps one parse cache per variable set."""

    def __init__(self, *, variables: dict[str, str] | None = None) -> None:
        super().__init__(variables=variables)
        self._caches_by_variables: dict[tuple, dict[tuple, list[RuleSet]]] = {}
        self.component_styles_reused = 0  # widgets whose component styles came from the cache

    def _variables_key(self) -> tuple:
        return tuple(sorted(self._variables.items()))

    def _cache_for_variables(self) -> dict[tuple, list[RuleSet]]:
        key = self._variables_key()
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

    def _process_component_classes(self, node: DOMNode) -> None:
        """Textual's, once per widget, theme and CSS path (see the module docstring)."""
        if not node._get_component_classes():
            return
        kept: dict[tuple, tuple] = node.__dict__.setdefault("_cockpit_component_styles", {})
        theme, path = self._variables_key(), _css_path_key(node)
        hit = kept.get(theme)
        if hit is not None and hit[0] == path:
            styles = hit[1]
            if node._component_styles != styles:
                node._component_styles.clear()
                node._component_styles.update(styles)
                node.refresh()
            self.component_styles_reused += 1
            return
        super()._process_component_classes(node)
        if len(kept) >= MAX_THEMES_KEPT:
            kept.pop(next(iter(kept)))
        kept[theme] = (path, dict(node._component_styles))


def _css_path_key(node: DOMNode) -> tuple:
    """What a rule's selector can test on the way from the App to ``node``."""
    return tuple((n._css_type_name, n.id, tuple(sorted(n.classes)), tuple(sorted(n.get_pseudo_classes())))
                 for n in node.css_path_nodes)
