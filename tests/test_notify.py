"""Notifier.batch(): the listeners hear a command's changes once, when it is complete."""
import pytest

from engine.notify import Notifier


def test_a_batch_holds_notifications_until_the_outermost_ends():
    n = Notifier()
    heard = []
    n.add_listener(lambda: heard.append(n.version))
    n.notify()
    assert heard == [1]  # outside a batch: at once
    with n.batch():
        n.notify()
        with n.batch():
            n.notify()
            n.bump()
        assert heard == [1]  # the inner batch ended: still held
        n.notify()
    assert heard == [1, 5]  # once, with everything in it
    with n.batch():
        n.bump()
    assert heard == [1, 5]  # nothing to tell


def test_a_batch_left_by_an_error_still_tells_and_raises():
    n = Notifier()
    heard = []
    n.add_listener(lambda: heard.append(n.version))
    with pytest.raises(RuntimeError):
        with n.batch():
            n.notify()
            raise RuntimeError("broker down")
    assert heard == [1]
    n.notify()  # not stuck inside the failed batch
    assert heard == [1, 2]
