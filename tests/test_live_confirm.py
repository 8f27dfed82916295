"""Real money needs the trader to type the account number; anything else refuses."""
import io
from types import SimpleNamespace

from engine.config import load_config
from cockpit.live_confirm import confirm_live

ACCOUNT = SimpleNamespace(account_number="PA3XK9QZ2L7M", status="ACTIVE", equity="25012.44")


def _ask(answer):
    asked = []

    def ask(prompt):
        asked.append(prompt)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    return ask, asked


def test_typed_account_number_confirms():
    cfg = load_config(None, env={})
    out = io.StringIO()
    ask, asked = _ask("PA3XK9QZ2L7M\n")
    assert confirm_live(cfg, ask=ask, out=out, account=ACCOUNT) is True
    assert "LIVE TRADING" in out.getvalue() and "PA3XK9QZ2L7M" in out.getvalue()
    assert asked and "account number" in asked[0]


def test_anything_else_refuses():
    cfg = load_config(None, env={})
    for answer in ("yes", "", "PA3XK9QZ2L7", "pa3xk9qz2l7m", EOFError()):
        ask, _ = _ask(answer)
        assert confirm_live(cfg, ask=ask, out=io.StringIO(), account=ACCOUNT) is False, answer


def test_no_account_number_refuses_without_asking():
    cfg = load_config(None, env={})
    ask, asked = _ask("whatever")
    assert confirm_live(cfg, ask=ask, out=io.StringIO(), account=SimpleNamespace(account_number="")) is False
    assert asked == []
