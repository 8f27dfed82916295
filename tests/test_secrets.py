"""Keys load from the environment or a private file and never reach logs or
error text, including when a real alpaca-py call fails against a stand-in
that echoes them back."""
from __future__ import annotations

import logging
import os
import traceback

import pytest

from engine.brokers.alpaca import AlpacaBroker
from engine.clock import FixedClock
from engine.feeds.alpaca import AlpacaFeed
from engine.live.backoff import Backoff
from engine.live.rest import AlpacaRestError
from engine.live.secrets import (
    AlpacaKeys,
    SecretsError,
    install_log_redaction,
    load_alpaca_keys,
    redact,
    register_secret,
)
from engine.model import OrderRequest, OrderStatus, Side
from tests.standins.testkit import KEY_ID, SECRET, T0


def test_keys_from_environment_are_masked_in_repr():
    keys = load_alpaca_keys({"APCA_API_KEY_ID": KEY_ID, "APCA_API_SECRET_KEY": SECRET})
    assert (keys.key_id, keys.secret_key, keys.source) == (KEY_ID, SECRET, "env")
    assert KEY_ID not in repr(keys) and SECRET not in str(keys)
    assert load_alpaca_keys({}) is None


def test_half_a_key_pair_is_an_error_naming_the_missing_variable():
    with pytest.raises(SecretsError, match="APCA_API_SECRET_KEY is not set") as info:
        load_alpaca_keys({"APCA_API_KEY_ID": KEY_ID})
    assert KEY_ID not in str(info.value)


def test_key_file_must_be_private(tmp_path):
    path = tmp_path / "alpaca.keys"
    path.write_text(f'# paper keys\nAPCA_API_KEY_ID = "{KEY_ID}"\nexport APCA_API_SECRET_KEY={SECRET}\n')
    os.chmod(path, 0o644)
    with pytest.raises(SecretsError, match=r"mode 0644.*chmod 600") as info:
        load_alpaca_keys({}, key_file=path)
    assert SECRET not in str(info.value)
    os.chmod(path, 0o600)
    keys = load_alpaca_keys({}, key_file=path)
    assert (keys.key_id, keys.secret_key, keys.source) == (KEY_ID, SECRET, str(path))
    # the environment wins over the file
    env_keys = load_alpaca_keys({"APCA_API_KEY_ID": "PKFROMENV00000000001", "APCA_API_SECRET_KEY": "x" * 40},
                                key_file=path)
    assert env_keys.source == "env"
    assert load_alpaca_keys({}, key_file=tmp_path / "missing") is None


def test_redact_scrubs_registered_values_and_auth_headers():
    register_secret(KEY_ID)
    register_secret(SECRET)
    text = f"headers {{'APCA-API-KEY-ID': '{KEY_ID}', 'APCA-API-SECRET-KEY': '{SECRET}'}} body secret_key={SECRET}x"
    out = redact(text)
    assert KEY_ID not in out and SECRET not in out
    assert out.count("***") >= 3
    assert redact("APCA-API-SECRET-KEY: unregistered-value-123") == "APCA-API-SECRET-KEY: ***"
    assert redact("nothing secret here") == "nothing secret here"


def test_log_records_from_any_logger_are_redacted(caplog):
    register_secret(SECRET)
    install_log_redaction()
    with caplog.at_level(logging.INFO):
        logging.getLogger("alpaca.trading.stream").warning("auth sent: %s", {"secret_key": SECRET})
        try:
            raise RuntimeError(f"boom with {SECRET}")
        except RuntimeError:
            logging.getLogger("some.library").exception("failed")
    assert SECRET not in caplog.text
    assert "boom with ***" in caplog.text


def _assert_clean(text: str) -> None:
    assert KEY_ID not in text, "key id leaked"
    assert SECRET not in text, "secret leaked"


async def test_failing_calls_leak_no_key_into_errors_or_logs(alpaca_rest, caplog):
    install_log_redaction()
    broker = AlpacaBroker(KEY_ID, SECRET, url_override=alpaca_rest.url, clock=FixedClock(T0),
                          rate_limit_backoff=Backoff(initial_s=0.01, max_s=0.02), request_timeout_s=2.0)
    texts: list[str] = []
    with caplog.at_level(logging.DEBUG):
        # a server that echoes the credentials back in its error message
        alpaca_rest.script("POST", "/v2/orders", 403,
                    {"code": 40310000, "message": f"key {KEY_ID} with secret {SECRET} may not trade"})
        order = await broker.submit(OrderRequest("s-1", "AAPL", Side.BUY, 1))
        assert order.status is OrderStatus.REJECTED and "may not trade" in order.reason
        texts.append(order.reason)
        # the same through every read path the engine uses
        alpaca_rest.script("GET", "/v2/account", 500, {"message": f"internal error for {KEY_ID}:{SECRET}"})
        with pytest.raises(AlpacaRestError) as info:
            await broker.refresh_account()
        texts.append(str(info.value))
        texts.append("".join(traceback.format_exception(info.value)))
        feed = AlpacaFeed(["AAPL"], KEY_ID, SECRET, data_url_override=alpaca_rest.url, clock=FixedClock(T0))
        alpaca_rest.script("GET", "/v2/stocks/trades", 403, {"message": f"denied for {SECRET}"})
        with pytest.raises(AlpacaRestError) as info2:
            await feed.backfill("AAPL", T0, T0 + 10**9)
        texts.append(str(info2.value))
        texts.append("".join(traceback.format_exception(info2.value)))
        await broker.stop()
    # wrong keys entirely: the failure says so without the keys we sent
    wrong = AlpacaBroker("PKWRONGKEY0000000099", "wrong-secret-0000000000000000000099", url_override=alpaca_rest.url,
                         clock=FixedClock(T0), request_timeout_s=2.0)
    with pytest.raises(AlpacaRestError) as info3:
        await wrong.start()
    assert info3.value.status == 401 and "not authorized" in str(info3.value)
    assert "PKWRONGKEY0000000099" not in "".join(traceback.format_exception(info3.value))
    await wrong.stop()
    texts.append(caplog.text)
    for text in texts:
        _assert_clean(text)
    assert "***" in texts[0] and "***" in caplog.text
    # the request itself did carry them (to the stand-in only): the test is not vacuous
    assert alpaca_rest.requests_to("POST", "/v2/orders")[0].headers["apca-api-secret-key"] == SECRET


def test_keys_object_is_frozen():
    keys = AlpacaKeys(KEY_ID, SECRET)
    with pytest.raises(Exception):
        keys.key_id = "other"  # type: ignore[misc]
