"""The real market data files are where the tests look for them: a CI run without
them fails here, by name, rather than quietly skipping the tests that read them."""
import pytest

from tests.shared_data import FILES, OPT_OUT_ENV, SHARED_DATA, opted_out


def test_every_shared_data_file_is_present():
    if opted_out():
        pytest.skip(f"{OPT_OUT_ENV}=1: running without ../shared/data on purpose")
    missing = [name for name in FILES if not (SHARED_DATA / name).is_file()]
    assert not missing, f"missing from {SHARED_DATA}: {', '.join(missing)}"
