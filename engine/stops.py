"""Stop modes (STRATEGY.md 14): where a signal's stop and target come from.

One place for every setup: the engine passes each signal a setup returns through
``apply_stop_mode`` with the symbol's parameters, so a built-in setup, a trader's
own and a replayed one all get the same bracket rule.

  atr      (default) the setup's own bracket, untouched, unless the symbol sets
           ``stop_pct`` / ``tp_pct``, which replace that leg (a fraction of entry)
  pct      stop = entry -/+ ``stop_pct`` x entry, target = entry +/- ``tp_pct`` x entry
  dollars  R = ``r_dollars`` per share: stop 1R, target 3R; ``exit_profile`` adds
           the rest of the profile (half off at 1.5R with break-even, trailing by 1R
           from 1R in favour, flat before the close)

In atr mode ``target2_atr`` (> 0) sets the bracket's target at entry +/- that x ATR
and ``target1_atr`` a first target (``first_target``) where ``partial_pct`` of the
shares go and the stop moves to break-even. The new bracket is named in the
signal's reason and its reward/risk recomputed.
"""
from __future__ import annotations

import math
from dataclasses import replace

from .config import StrategyParams
from .model import Signal

# the fixed-dollar R profile (STRATEGY.md 14)
DOLLARS_TARGET1_R = 1.5
DOLLARS_TARGET2_R = 3.0
DOLLARS_PARTIAL = 0.5
DOLLARS_TRAIL_R = 1.0  # trailing starts 1R in favour and follows the best price by 1R
DOLLARS_FLAT_MIN = 5.0  # flat before the close even when flat_before_close_min is 0


def first_target(sig: Signal, p: StrategyParams, atr: float) -> float:
    """The price of the first target (stop_mode atr, ``target1_atr`` > 0, ATR known):
    ``partial_pct`` of the shares go there and the stop moves to break-even; 0 = none."""
    if p.stop_mode != "atr" or p.target1_atr <= 0 or not (math.isfinite(atr) and atr > 0):
        return 0.0
    return sig.entry + sig.side.sign * p.target1_atr * atr


def apply_stop_mode(sig: Signal, p: StrategyParams, atr: float = math.nan) -> Signal:
    """``sig`` with the stop and target of ``p.stop_mode`` (the same object when
    nothing changes: the default atr mode leaves every setup's bracket as it was).
    ``atr``: the symbol's ATR at the signal, for the two ATR targets."""
    s, entry = sig.side.sign, sig.entry
    if p.stop_mode == "atr" and (p.target1_atr > 0 or p.target2_atr > 0) and math.isfinite(atr) and atr > 0:
        target = entry + s * p.target2_atr * atr if p.target2_atr > 0 else sig.target
        sig = replace(sig, target=target)
        parts = ([f"target1 {first_target(sig, p, atr):.2f} ({p.target1_atr:g} ATR, {p.partial_pct:.0%} off, "
                  f"then break-even)"] if p.target1_atr > 0 else []) + \
                ([f"target2 {target:.2f} ({p.target2_atr:g} ATR)"] if p.target2_atr > 0 else [])
        note = ", ".join(parts)
        risk = abs(entry - sig.stop)
        sig = replace(sig, reason=f"{sig.reason}; {note}",
                      r_multiple=abs(target - entry) / risk if risk > 0 else 0.0)
    if p.stop_mode == "dollars":
        r = p.r_dollars
        stop, target = entry - s * r, entry + s * DOLLARS_TARGET2_R * r
        note = (f"stop_mode dollars: R ${r:g}/share, stop 1R {stop:.2f}, half at {DOLLARS_TARGET1_R:g}R, "
                f"target {DOLLARS_TARGET2_R:g}R {target:.2f}")
    elif p.stop_mode == "pct" or p.stop_pct > 0 or p.tp_pct > 0:
        stop = entry * (1 - s * p.stop_pct) if p.stop_pct > 0 else sig.stop
        target = entry * (1 + s * p.tp_pct) if p.tp_pct > 0 else sig.target
        parts = ([f"stop_pct {p.stop_pct:g} -> stop {stop:.2f}"] if p.stop_pct > 0 else []) + \
                ([f"tp_pct {p.tp_pct:g} -> target {target:.2f}"] if p.tp_pct > 0 else [])
        note = f"stop_mode {p.stop_mode}: " + ", ".join(parts)
    else:
        return sig  # atr mode: the setup's bracket (with its ATR targets, if any)
    risk = abs(entry - stop)
    return replace(sig, stop=stop, target=target, reason=f"{sig.reason}; {note}",
                   r_multiple=abs(target - entry) / risk if risk > 0 else 0.0)


def exit_profile(p: StrategyParams) -> StrategyParams:
    """The exit parameters a position trades with: ``p`` itself, or in stop_mode
    dollars the fixed-R profile (partial half at 1.5R with break-even, trailing from
    1R, flat before the close)."""
    if p.stop_mode != "dollars":
        return p
    return p.model_copy(update=dict(
        target1_r=DOLLARS_TARGET1_R, partial_fraction=DOLLARS_PARTIAL, trail_activate_r=DOLLARS_TRAIL_R,
        flat_before_close_min=p.flat_before_close_min or DOLLARS_FLAT_MIN))
