"""The NYSE decade kept in the user cache dir gives the same sessions as building it."""
from datetime import date

import engine.analytics.session as S


def test_cached_decade_matches_built(tmp_path, monkeypatch):
    path = tmp_path / "XNYS-2020.txt"
    monkeypatch.setattr(S, "_xnys_cache_path", lambda decade: path)
    built = S._xnys_decade.__wrapped__(2020)
    assert path.exists()
    assert S._read_xnys_cache(path) == built
    # half day and holiday survive the round trip
    assert date(2024, 12, 25) not in built
    o, c = built[date(2024, 11, 29)]  # day after Thanksgiving: 13:00 ET close
    assert (c - o) // 60_000_000_000 == 210
    again = S._xnys_decade.__wrapped__(2020)
    assert again == built


def test_truncated_cache_is_rebuilt(tmp_path, monkeypatch):
    path = tmp_path / "XNYS-2020.txt"
    monkeypatch.setattr(S, "_xnys_cache_path", lambda decade: path)
    built = S._xnys_decade.__wrapped__(2020)
    text = path.read_text()
    path.write_text(text[: len(text) // 2])
    assert S._read_xnys_cache(path) is None
    assert S._xnys_decade.__wrapped__(2020) == built
    assert S._read_xnys_cache(path) == built
    path.write_text("2024-01-02 x y\nend\n")
    assert S._read_xnys_cache(path) is None
