"""The array path: a bars backtest worked out over numpy arrays instead of bar by
bar through the Engine, for the configurations it supports. Same results, to
the last bit: tests/test_array_path.py draws configurations and compares trades,
equity samples, daily equity, metrics and summary with the Engine's, and
``cockpit backtest --verify`` does the same for one run.

What it reproduces (the Engine's rules, read from the modules that own them):

- signals: the setup's ``array_signals`` over the in-session bars (the Engine
  hands a setup only those); one signal per bar;
- the signal desk in AUTO: a signal while the symbol has a position or a working
  entry is DROPPED; with ``sessions.enforce_policy`` one that is not the
  window's recommended setup is BLOCKED (before the risk manager); the risk
  manager's gates in their order (daily-loss latch on start-of-day equity, min
  account balance, losing streak, the trading window on data time -- or, with
  trading policies (``[[sessions.policy]]`` with ``setups``), being inside one --,
  allow/deny lists, the window's setups), its sizing (risk budget, a window's own
  ``risk_per_trade_pct``, or a fixed qty, capped by buying power and the notional
  cap and the cash floor ``min_cash``; qty < 1 and invalid stops blocked), the
  power-hour gate of ``power_hour_symbols``, and the reward/risk minimum; the
  paper broker's own checks on submit (bracket sides,
  positive prices, buying power), whose refusal is a rejection;
- the paper broker's bar fills: a market entry at the next bar's open plus
  slippage, a limit entry (``engine.entry_type = "limit"``) at the open when the
  bar opened through it, else at the limit in the middle of the minute when the
  bar reached it, expired first by a bar whose end reaches its submit time plus
  ``limit_timeout_s`` (so 60 s or less never fills on minute bars); the entry's
  stop armed on the entry bar (gap: at the entry price), its target from the
  next bar; stop first when a bar touches both; gaps through the stop
  fill at the open; intrabar fills at the minute's middle; commission per share;
- the exit manager's rules at each bar's close (engine/exits.py, the same
  arithmetic): the time rules (flat before the close, the trade timeout) close
  with a market exit at the next bar's open; a partial exit (``target1_r``, or
  the first ATR target) is a reduce-only market order filled at the next open
  unless the bracket's stop or target closes the position first, and moves the
  stop to break-even; the ATR trail (``trail_activate_r``, by 1R in stop_mode
  dollars) and the percent trail (``trail_pct``) move the broker's stop, or close
  when the close is already through it; the session's start (on data time)
  resets the daily-loss latch and the losing streak and sets start-of-day equity;
- the stop modes (engine/stops.py: pct, dollars and its exit profile, ``stop_pct``
  / ``tp_pct``, the two ATR targets on the analytics' ATR at the signal bar);
- the runner's books: equity after each fill and at each bar end in a position,
  closing equity per session date, bars in a position, the last position closed
  at the last price when the data ends;
- with every analytic (``needs=None``, what the live path computes): the summary's
  minutes per market state of every in-session bar and its LVN alerts, worked out
  over the arrays (array_analytics.py, engine/analytics/batch_alerts.py).

What it does not do runs on the Engine, and ``array_support.unsupported`` says why: trades
data, more than one symbol (they share one account), setups without an array
form or more than one setup, pegged entries, a chosen set of analytics other
than the setups' needs or every one, bars the Engine would skip (malformed, or
outside the price band), warm-up bars, dynamic sizing, several entries per
symbol, the options gate.

The loop is Python, but it visits only the bars where something can happen: a
signal bar while flat, and every bar while an order works or a position is open.
"""
from __future__ import annotations

import math
from bisect import bisect_left

import numpy as np

from ..analytics.indicators import atr_array
from ..analytics.session import SessionCalendar
from ..config import CockpitConfig, StrategyParams
from ..feeds.loaders import BarsArrays
from ..model import NS_PER_MIN, NS_PER_S
from ..risk import ET, LocalClock, RiskManager, RiskRule
from ..stops import DOLLARS_TARGET2_R, exit_profile
from ..strategy.array_form import ANALYTICS
from . import metrics as M
from .array_analytics import every_analytic, state_minutes
from .array_calendar import day_columns
from .array_reuse import bar_lists, rth_columns
from .array_support import array_setup, series_key, unsupported  # noqa: F401 - unsupported: this path's question
from .data import Dataset

_EPS = 1e-9
_MID = NS_PER_MIN // 2
_MIN_STOP_STEP = 0.01  # ExitManager's min_stop_step (the engine builds it with the default)


# --------------------------------------------------------------------------- analytics over arrays


_BATCH: dict[tuple, dict] = {}  # the last few symbols' columns (a sweep's combinations share them)


def batch_columns(s: BarsArrays, p: StrategyParams, cal: SessionCalendar, session: str) -> dict:
    """``analyze_bars_arrays`` of the bars (the numbers SymbolAnalytics gives bar by
    bar, tests/test_batch_parity.py), kept for the next combination with the same
    analytics parameters."""
    from ..analytics.batch import analyze_bars_arrays
    from .replay import analytics_key

    key = (series_key(s), analytics_key(p), session)
    cols = _BATCH.get(key)
    if cols is None:
        while len(_BATCH) >= 2:
            _BATCH.pop(next(iter(_BATCH)))
        cols = _BATCH[key] = analyze_bars_arrays(s.ts_ns, s.open, s.high, s.low, s.close, s.volume, p, cal,
                                                 s.buy_volume, s.sell_volume, s.vap, s.vwap)
    return cols


_WINDOWS: dict[tuple, dict[int, bool]] = {}


def _window_memo(risk: RiskManager, session: str):
    """``risk.in_window`` remembered per data time (a sweep's combinations ask the same times)."""
    memo = _WINDOWS.setdefault((risk.window, session), {})
    if len(memo) > 2_000_000:
        memo.clear()

    def in_window(now: int) -> bool:
        got = memo.get(now)
        if got is None:
            got = memo[now] = risk.in_window(now)
        return got

    return in_window


# --------------------------------------------------------------------------- the run


def run_arrays(config: CockpitConfig, ds: Dataset, needs="setups"):
    """The backtest of ``config`` on ``ds`` over arrays (``unsupported`` must be "");
    ``needs=None``: every analytic, as live (market states and LVN alerts counted)."""
    from .result import BacktestResult, run_params

    sym = ds.symbols[0]
    s: BarsArrays = ds.series[sym]
    p = config.strategy.for_symbol(sym)
    rc, bc = config.risk, config.broker
    cal = SessionCalendar(config.feed.session, config.sessions.policy_for(config.feed.session))
    risk = RiskManager(rc, config.feed.session, config.sessions.trading)
    ts = s.ts_ns
    n = len(ts)
    days = day_columns(cal, ts)

    # signals: the setup's array form over the in-session bars, mapped back to bar numbers
    sig_at: dict[int, tuple] = {}
    cls = array_setup(p)
    setup_name = cls.name if cls is not None else ""
    states: dict[str, int] = {}
    if cls is not None:
        rth_idx = np.flatnonzero(days.in_rth)
        if cls.array_columns == ANALYTICS:
            full = batch_columns(s, p, cal, config.feed.session)
            cols = rth_columns(full, rth_idx, n)  # cut once per series and analytics parameters
            if "state" in cls.needs:  # the engine counts the in-session bars per market state
                states = state_minutes(cols["state"])
        else:
            cols = {"open": s.open[rth_idx], "high": s.high[rth_idx], "low": s.low[rth_idx],
                    "close": s.close[rth_idx], "volume": s.volume[rth_idx]}
        sg = cls.array_signals(cols, p)
        bars_of = rth_idx[sg.index].tolist()
        sig_at = dict(zip(bars_of, zip(sg.side.tolist(), sg.entry.tolist(), sg.stop.tolist(), sg.target.tolist())))
    lvn_alerts = 0
    if needs is None:  # every analytic: the market state of every in-session bar, the LVN alerts
        states, lvn_alerts = every_analytic(s, p, cal, config.feed.session, days.in_rth)
    sig_bars = sorted(sig_at)
    ep = exit_profile(p)  # the exit parameters a position trades with (the router's ExitManager)
    ATR = None  # the analytics' ATR per bar (snap.atr): the ATR targets and the ATR trail read it
    if (p.stop_mode == "atr" and (p.target1_atr > 0 or p.target2_atr > 0)) or \
            (ep.trail_activate_r > 0 and ep.stop_mode != "dollars"):
        if cls is not None and cls.array_columns == ANALYTICS:
            ATR = full["atr"].tolist()
        else:
            ATR = atr_array(s.high, s.low, s.close, p.atr_period).tolist()
    target1_at: dict[int, float] = {}  # signal bar -> its first target (stops.first_target), when it has one
    if stop_mode_changes(p):
        for i in sig_bars:
            side, ent, stp, tgt = sig_at[i]
            stp, tgt, t1 = bracket_of(side, ent, stp, tgt, p, ATR[i] if ATR is not None else math.nan)
            sig_at[i] = (side, ent, stp, tgt)
            if t1 > 0:
                target1_at[i] = t1

    O, H, L, C, TS, DAY, SESS = bar_lists(s, days)  # made once per series: a sweep's combinations share them
    day_starts = (np.flatnonzero(np.diff(days.day_of_bar)) + 1).tolist()  # bars whose session date is new
    day_start_set = set(day_starts)
    flat_min = ep.flat_before_close_min
    flat_due = (days.mins_to_close <= flat_min + _EPS) if flat_min > 0 else np.zeros(n, dtype=bool)
    FLAT_DUE = flat_due.tolist()
    due_bars = [*np.flatnonzero(flat_due).tolist(), n]  # bars at whose close flat-before-close is due, then n
    timeout = ep.trade_timeout_min
    # the exit rules beyond the time rules (engine/exits.py): a partial exit with break-even, trailing
    price_rules = ep.target1_r > 0 or ep.trail_activate_r > 0 or ep.trail_pct > 0 or bool(target1_at)
    t1_r, t1_frac, t1_pct = ep.target1_r, ep.partial_fraction, ep.partial_pct
    trail_r, trail_atr, trail_by_r = ep.trail_activate_r, ep.trail_atr, ep.stop_mode == "dollars"
    trail_pct, trail_from = ep.trail_pct, ep.trail_activate_pct
    fixed_qty = p.qty if p.qty > 0 else rc.fixed_qty  # the symbol's own qty beats risk.fixed_qty
    # a limit entry (engine.entry_type "limit"): at the signal's entry, expired by the broker at the
    # first bar whose data time (its end) reaches the submit time plus limit_timeout_s
    limit_entries = config.engine.entry_type == "limit"
    limit_timeout_ns = int(config.engine.limit_timeout_s * NS_PER_S)

    slip = bc.slippage_bps / 10_000.0
    cps = bc.commission_per_share
    margin = bc.margin_multiplier
    init = float(bc.initial_equity)
    sym_block = risk.symbol_block(sym)
    window = risk.window is not None
    trading_policies = bool(risk.policies)  # [[sessions.policy]] windows with setups (risk.active_policy)
    enforce_policy = config.sessions.enforce_policy  # only the window's recommended setup (desk.on_signal)
    # risk.power_hour_symbols: this symbol opens positions only from power_hour_start (ET) on
    power_hour = sym.upper() in {x.upper() for x in rc.power_hour_symbols}
    hh, mm = (int(x) for x in rc.power_hour_start.split(":"))
    power_hour_s = hh * 3600 + mm * 60
    et_clock = LocalClock(ET)
    in_window = _window_memo(risk, config.feed.session)

    # broker and books
    cash = init
    pos = 0  # signed
    avg = 0.0
    realized = 0.0
    orders = 0
    fills_n = 0
    rejections = 0
    signals = 0
    decisions = {"auto": 0, "dropped": 0, "blocked": 0}
    blocks: dict[str, int] = {}
    sod = init
    latched = False
    losses = 0
    cur_sess = -1

    trades: list = []  # closed round trips (metrics.TradeRecord)
    trip: list = []  # the open round trip's fills (sign x qty, price, commission, ts), oldest first
    plans: dict[str, float] = {}  # entry order -> its bracket stop (the trade's initial risk)
    equity_ts: list[int] = []
    equity: list[float] = []
    daily: list[tuple[str, float]] = []
    bars_in_pos = 0
    entry_seq = 0

    # working orders: the pending entry (side, qty, stop, target, order id, first target); the
    # bracket's stop/target levels once working; a pending market exit; a pending partial exit
    entry: Optional[tuple] = None
    stop_px = target_px = 0.0
    bracket = False
    target_armed = False
    exit_pending = False
    partial_q = 0
    closing = False
    opened_ns = 0
    # the exit plan of the open position (exits.TradePlan): entry (the broker's average price),
    # R, its side, the stop as last moved, the best close since entry, the shares it still manages,
    # whether the partial went and the trail began, the first target's price (0 = by target1_r)
    pl_entry = pl_r = pl_stop = pl_ext = pl_t1 = 0.0
    pl_sign = pl_qty = 0
    pl_has_r = pl_partial = pl_trailing = False

    def new_session(i: int, eq: float) -> None:
        nonlocal sod, latched, losses, cur_sess
        cur_sess = SESS[i]
        sod = eq
        latched = False
        losses = 0

    def fill(i_ts: int, side_sign: int, qty: int, price: float, leg, oid: str, out: list) -> None:
        """Book one fill (PaperBroker._apply_fill's arithmetic) and queue its event; a
        round trip that closes is recorded as metrics.TradeBuilder records it."""
        nonlocal cash, pos, avg, realized, fills_n, losses
        signed = side_sign * qty
        commission = qty * cps
        if pos == 0 or (pos > 0) == (signed > 0):
            new = pos + signed
            avg = (abs(pos) * avg + abs(signed) * price) / abs(new)
            pos = new
        else:
            closing_q = min(abs(signed), abs(pos))
            realized += closing_q * (price - avg) * (1 if pos > 0 else -1)
            pos = pos + signed
        cash -= signed * price + commission
        fills_n += 1
        out.append(i_ts)
        trip.append((signed, price, commission, i_ts, oid))
        if pos != 0:
            return
        # a round trip closed: the router's P&L for the losing streak (newest fill first) and
        # metrics.TradeBuilder's record (oldest first), each summed in its own order
        pnl = 0.0
        for f_signed, f_px, f_cm, _, _ in reversed(trip):
            pnl -= f_signed * f_px + f_cm
        if pnl < 0:
            losses += 1
        elif pnl > 0:
            losses = 0
        e_signed, _, _, e_ts, e_oid = trip[0]
        e_sign = 1 if e_signed > 0 else -1
        held = max_qty = entry_qty = exit_qty = 0
        entry_cost = exit_value = net = comm = 0.0
        for f_signed, f_px, f_cm, _, _ in trip:
            f_qty = abs(f_signed)
            net -= f_signed * f_px + f_cm
            comm += f_cm
            if (f_signed > 0) == (e_sign > 0):
                held += f_qty
                entry_cost += f_qty * f_px
                entry_qty += f_qty
                max_qty = max(max_qty, held)
            else:
                held -= f_qty
                exit_value += f_qty * f_px
                exit_qty += f_qty
        trip.clear()
        stop = plans.pop(e_oid, None)
        entry_px = entry_cost / entry_qty
        trades.append(M.TradeRecord(
            symbol=sym, side="long" if e_sign > 0 else "short", qty=max_qty, entry_ns=e_ts, exit_ns=i_ts,
            entry_price=entry_px, exit_price=exit_value / exit_qty, pnl=net, commission=comm,
            risk_usd=max_qty * abs(entry_px - stop) if stop is not None else 0.0,
            exit_leg=leg, setup=setup_name if stop is not None else ""))

    def deliver(out: list, eq: float) -> None:
        for f_ts in out:
            equity_ts.append(f_ts)
            equity.append(eq)

    def on_signal(i: int) -> None:
        """A signal at bar ``i`` while flat with nothing working: the gates, sizing, the submit."""
        nonlocal entry, orders, rejections, latched, entry_seq
        side, ent, stp, tgt = sig_at[i]
        now = TS[i] + NS_PER_MIN
        eq = cash  # flat: equity is the cash
        rule = None
        if enforce_policy:  # the desk's gate, before the risk manager's (so before the daily-loss latch)
            if cal.info(now).recommended_setup != setup_name:
                decisions["blocked"] += 1
                blocks[RiskRule.SESSION_POLICY.value] = blocks.get(RiskRule.SESSION_POLICY.value, 0) + 1
                return
        policy = risk.active_policy(now) if trading_policies else None
        if not latched:
            limit = rc.max_daily_loss_pct / 100.0 * sod
            if eq - sod <= -limit + _EPS:
                latched = True
        if latched:
            rule = RiskRule.DAILY_LOSS
        elif eq < rc.min_account_balance:
            rule = RiskRule.MIN_ACCOUNT_BALANCE
        elif losses >= rc.max_consecutive_losses:
            rule = RiskRule.CONSECUTIVE_LOSSES
        elif trading_policies and policy is None:  # trading policies replace the trading window
            rule = RiskRule.SESSION_POLICY
        elif not trading_policies and window and not in_window(now):
            rule = RiskRule.TRADING_WINDOW
        elif sym_block is not None:
            rule = sym_block.rule
        elif policy is not None and setup_name not in policy.setups:
            rule = RiskRule.SESSION_POLICY
        elif power_hour and et_clock.secs(now) < power_hour_s:
            rule = RiskRule.POWER_HOUR
        qty = 0
        if rule is None:
            per_share = abs(ent - stp)
            if not (math.isfinite(ent) and math.isfinite(stp) and ent > 0 and per_share > 0):
                rule = RiskRule.INVALID_STOP
            else:
                r_mult = abs(tgt - ent) / per_share if math.isfinite(tgt) else 0.0
                risk_pct = rc.risk_per_trade_pct if policy is None or policy.risk_per_trade_pct is None \
                    else policy.risk_per_trade_pct
                budget = max(eq, 0.0) * risk_pct / 100.0
                bp = max(0.0, eq * margin - 0.0 - 0.0)
                by_risk = fixed_qty if fixed_qty > 0 else math.floor(budget / per_share + _EPS)
                by_bp = math.floor(max(bp, 0.0) / ent + _EPS)
                by_notional = math.floor(rc.max_position_notional / ent + _EPS)
                by_cash = math.floor((eq - rc.min_cash) / ent + _EPS) if rc.min_cash > 0 else by_notional
                qty = min(by_risk, by_bp, by_notional, by_cash)
                if qty < 1:
                    rule = RiskRule.SIZE_BELOW_ONE
                elif rc.min_reward_risk > 0 and r_mult + 1e-9 < rc.min_reward_risk:
                    rule = RiskRule.MIN_REWARD_RISK
        if rule is not None:
            decisions["blocked"] += 1
            blocks[rule.value] = blocks.get(rule.value, 0) + 1
            return
        decisions["auto"] += 1
        orders_before = orders
        ref = ent if limit_entries else C[i]  # a limit's own price, else the broker's last price
        ok = _positive(tgt) and _positive(stp) and (stp - ref) * side < 0 and (tgt - ref) * side > 0
        if ok:
            bp = max(0.0, cash * margin - 0.0 - 0.0)
            ok = not (qty * ref > bp + _EPS)
        if not ok:
            orders = orders_before + 1
            rejections += 1
            return
        orders += 3
        entry_seq += 1
        entry = (side, qty, stp, tgt, f"e{entry_seq}", target1_at.get(i, 0.0),
                 now + limit_timeout_ns if limit_entries else 0, ent)
        plans[entry[4]] = stp

    i = 0
    while i < n:
        if entry is None and pos == 0 and not exit_pending:
            # flat with nothing working: jump to the next signal bar, booking what the skipped bars would
            k = bisect_left(sig_bars, i)
            j = sig_bars[k] if k < len(sig_bars) else n
            for d in day_starts[bisect_left(day_starts, max(i, 1)):bisect_left(day_starts, j + 1)]:
                if d <= j:
                    daily.append((days.day_labels[DAY[d - 1]], cash))
            if j >= n:
                break
            if SESS[j] != cur_sess:
                new_session(j, cash)
            signals += 1
            on_signal(j)
            i = j + 1
            continue

        if bracket and target_armed and not (price_rules or exit_pending or entry is not None):
            # a position under its bracket, no rule but the time rules: skip to the first bar that
            # touches the stop or the target, or at whose close a time rule is due, booking the bars
            # between as the loop would (quiet_bars)
            long = pos > 0
            end = due_bars[bisect_left(due_bars, i)]
            if timeout > 0:  # the trade timeout's test at each bar's close, as below (monotone in time)
                end = bisect_left(TS, True, i, end,
                                  key=lambda t: (t + NS_PER_MIN - opened_ns) / NS_PER_MIN >= timeout - _EPS)
            k = quiet_bars(L, H, i, end, stop_px if long else target_px, target_px if long else stop_px)
            if k > i:
                for d in day_starts[bisect_left(day_starts, i):bisect_left(day_starts, k)]:
                    daily.append((days.day_labels[DAY[d - 1]], cash + pos * C[d]))
                if SESS[k - 1] != cur_sess:  # the span's last session began at its first bar in the span
                    j = bisect_left(SESS, SESS[k - 1], i, k)
                    new_session(j, cash + pos * C[j])
                bars_in_pos += k - i
                equity_ts += [t + NS_PER_MIN for t in TS[i:k]]
                equity += [cash + pos * c for c in C[i:k]]
                dropped = bisect_left(sig_bars, k) - bisect_left(sig_bars, i)
                signals += dropped
                decisions["dropped"] += dropped
                i = k
                continue

        # a bar with something working: the broker first, on this bar's prices
        o, h, lo, c, t = O[i], H[i], L[i], C[i], TS[i]
        out: list = []
        hit = None
        if entry is not None:
            side, qty, stp, tgt, oid, t1, expires, lim = entry
            if not expires:  # market: at the open plus slippage
                hit = (o * (1 + slip) if side > 0 else o * (1 - slip), t)
            elif t + NS_PER_MIN >= expires:  # the limit's time is up before this bar can fill it
                entry = None
            elif side > 0:  # a buy limit: at the open when it opened below, else at the limit if reached
                hit = (o, t) if o <= lim else ((lim, t + _MID) if lo <= lim else None)
            else:
                hit = (o, t) if o >= lim else ((lim, t + _MID) if h >= lim else None)
        if hit is not None:
            entry = None
            px, opened_ns = hit
            fill(opened_ns, side, qty, px, "entry", oid, out)
            stop_px, target_px, bracket, target_armed, closing = stp, tgt, True, False, False
            # the exit plan (ExitManager.on_position_opened): from the broker's average price
            pl_entry, pl_sign, pl_qty, pl_stop, pl_ext, pl_t1 = avg, side, qty, stp, avg, t1
            pl_r = abs(avg - stp)
            pl_has_r = (avg - stp) * side > 0
            pl_partial = pl_trailing = False
            # the rest of the entry bar may already reach the stop
            touched = lo <= stp if side > 0 else h >= stp
            if touched:
                gapped = px <= stp if side > 0 else px >= stp
                base = px if gapped else stp
                spx = base * (1 - slip) if side > 0 else base * (1 + slip)
                fill(t + _MID, -side, qty, spx, "stop_loss", "", out)
                bracket = False
        elif entry is not None:
            pass  # a limit entry still working
        elif exit_pending:
            exit_pending = False
            side = -1 if pos > 0 else 1
            px = o * (1 + slip) if side > 0 else o * (1 - slip)
            fill(t, side, abs(pos), px, "exit", "", out)
        elif bracket:
            long = pos > 0
            # the stop (a sell stop for a long): at the open plus slippage when the bar gapped
            # through it, else at the stop plus slippage, in the middle of the minute
            if long:
                s_hit = ((o * (1 - slip), t) if o <= stop_px
                         else (stop_px * (1 - slip), t + _MID) if lo <= stop_px else None)
            else:
                s_hit = ((o * (1 + slip), t) if o >= stop_px
                         else (stop_px * (1 + slip), t + _MID) if h >= stop_px else None)
            t_hit = None
            if target_armed:
                if long:
                    t_hit = (o, t) if o >= target_px else ((target_px, t + _MID) if h >= target_px else None)
                else:
                    t_hit = (o, t) if o <= target_px else ((target_px, t + _MID) if lo <= target_px else None)
            # (the broker's order of the working legs: take-profit, stop-loss, then a partial exit
            # sent since; either leg closes the position and the partial is cancelled with it)
            if s_hit is not None:
                fill(s_hit[1], -1 if long else 1, abs(pos), s_hit[0], "stop_loss", "", out)
                bracket = False
            elif t_hit is not None:
                fill(t_hit[1], -1 if long else 1, abs(pos), t_hit[0], "take_profit", "", out)
                bracket = False
            elif partial_q:
                side = -1 if long else 1
                px = o * (1 + slip) if side > 0 else o * (1 - slip)
                fill(t, side, min(partial_q, abs(pos)), px, "exit", "", out)
            partial_q = 0
        if bracket:
            target_armed = True
        eq = cash + pos * c if pos else cash
        if out:
            deliver(out, eq)
        # the runner's books for the closed bar
        if i in day_start_set:
            daily.append((days.day_labels[DAY[i - 1]], eq))
        if pos:
            bars_in_pos += 1
            equity_ts.append(t + NS_PER_MIN)
            equity.append(eq)
        # the engine: a new session, the exit rules, the setup
        if SESS[i] != cur_sess:
            new_session(i, eq)
        if pos and not closing and not exit_pending:
            # ExitManager.on_price at the bar's close: the best price, the time rules, then
            # the partial exit with break-even and the trails (engine/exits.py, same arithmetic;
            # the best price is only read by the trails, never after a time rule closes)
            due = FLAT_DUE[i]
            if not due and timeout > 0:
                due = (t + NS_PER_MIN - opened_ns) / NS_PER_MIN >= timeout - _EPS
            if not due and price_rules and pl_has_r:
                sg = pl_sign
                if (c - pl_ext) * sg > 0:
                    pl_ext = c
                r_now = (c - pl_entry) * sg / pl_r
                new_stop, forced = pl_stop, False
                if pl_t1 > 0:
                    hit, fraction = (c - pl_t1) * sg >= -_EPS, t1_pct
                else:
                    hit, fraction = t1_r > 0 and r_now >= t1_r - _EPS, t1_frac
                if hit and not pl_partial:
                    pl_partial = True
                    part = math.floor(pl_qty * fraction + _EPS)
                    if 1 <= part < pl_qty:  # a reduce-only market order, filled at the next open
                        orders += 1
                        partial_q = min(part, abs(pos))
                        pl_qty -= part
                    if (pl_entry - new_stop) * sg > 0:
                        new_stop, forced = pl_entry, True
                if trail_r > 0:
                    if not pl_trailing and r_now >= trail_r - _EPS:
                        pl_trailing = True
                    if pl_trailing and trail_by_r:
                        level = pl_ext - sg * pl_r
                        if (level - new_stop) * sg > 0:
                            new_stop = level
                    elif pl_trailing:
                        a = ATR[i]
                        if math.isfinite(a) and a > 0:
                            level = pl_ext - sg * (trail_atr * a)
                            if (level - new_stop) * sg > 0:
                                new_stop = level
                if trail_pct > 0:
                    gained = (pl_ext - pl_entry) * sg / pl_entry
                    if gained >= trail_from - _EPS:
                        level = pl_ext * (1 - sg * trail_pct)
                        if (level - new_stop) * sg > 0:
                            new_stop = level
                gain = (new_stop - pl_stop) * sg
                if gain > 0 and (forced or gain >= _MIN_STOP_STEP - _EPS):
                    if (c - new_stop) * sg <= 0:  # already through the new stop: get out
                        due = True
                    else:  # the broker's stop-loss moves (replace_stop)
                        pl_stop = stop_px = new_stop
            if due:  # broker.close: every working order cancelled, a market exit at the next open
                closing = True
                bracket = False
                exit_pending = True
                partial_q = 0
                orders += 1
        if i in sig_at:
            signals += 1
            if pos or entry is not None:
                decisions["dropped"] += 1
            else:
                on_signal(i)
        i += 1

    if SESS[-1] != cur_sess:  # a session began in the flat stretch at the end
        new_session(n - 1, cash)
    # end of data: every order cancelled, the position closed at the last price
    end_ts = TS[-1] + NS_PER_MIN
    if pos:
        orders += 1
        side = -1 if pos > 0 else 1
        px = C[-1] * (1 + slip) if side > 0 else C[-1] * (1 - slip)
        out = []
        fill(end_ts, side, abs(pos), px, "exit", "", out)
        deliver(out, cash)
    equity_ts.append(end_ts)
    equity.append(cash)
    daily.append((days.day_labels[DAY[-1]], cash))

    met = M.compute(trades, init, equity, [e for _, e in daily], n, bars_in_pos)
    by_decision = {k: v for k, v in decisions.items() if v}
    summary = {
        "signals_total": signals,
        "signals_by_setup": {setup_name: dict(by_decision)} if by_decision else {},
        "signals_by_decision": dict(by_decision),
        "blocked_reasons": dict(blocks),
        "orders": orders,
        "fills": fills_n,
        "rejections": rejections,
        "lvn_alerts": lvn_alerts,
        "malformed": ds.malformed,
        "equity": round(cash, 2),
        "day_pnl": round(cash - sod, 2),
        "realized_pnl": round(realized, 2),
        "open_positions": 0,
        "states": states,
        "rows_not_recorded": 0,
    }
    return BacktestResult(
        params=run_params(config), metrics=met, trades=trades, equity_ts=equity_ts, equity=equity,
        daily=daily, summary=summary, fingerprint=ds.fingerprint, bars=n, items=n, symbols=[sym],
        bars_in_position=bars_in_pos,
    )


def quiet_bars(low: list, high: list, i: int, end: int, below: float, above: float) -> int:
    """The first bar from ``i`` (before ``end``, else ``end``) whose range reaches
    ``below`` or ``above``: a long's stop and target, a short's target and stop. A bar
    before it touches neither leg of the bracket (a gap through a leg opens beyond it,
    so its low or high is there too)."""
    while i < end and low[i] > below and high[i] < above:
        i += 1
    return i


def stop_mode_changes(p: StrategyParams) -> bool:
    """Whether ``stops.apply_stop_mode`` can change a signal's bracket for ``p``."""
    return (p.stop_mode != "atr" or p.stop_pct > 0 or p.tp_pct > 0
            or p.target1_atr > 0 or p.target2_atr > 0)


def bracket_of(sign: int, entry: float, stop: float, target: float, p: StrategyParams,
               atr: float) -> tuple[float, float, float]:
    """(stop, target, first target) of a signal after ``stops.apply_stop_mode`` and
    ``stops.first_target`` with the symbol's ATR at the signal: the same arithmetic
    in the same order, on plain numbers (0.0 = no first target)."""
    atr_ok = math.isfinite(atr) and atr > 0
    if p.stop_mode == "atr" and (p.target1_atr > 0 or p.target2_atr > 0) and atr_ok:
        target = entry + sign * p.target2_atr * atr if p.target2_atr > 0 else target
    if p.stop_mode == "dollars":
        r = p.r_dollars
        stop, target = entry - sign * r, entry + sign * DOLLARS_TARGET2_R * r
    elif p.stop_mode == "pct" or p.stop_pct > 0 or p.tp_pct > 0:
        stop = entry * (1 - sign * p.stop_pct) if p.stop_pct > 0 else stop
        target = entry * (1 + sign * p.tp_pct) if p.tp_pct > 0 else target
    first = 0.0
    if p.stop_mode == "atr" and p.target1_atr > 0 and atr_ok:
        first = entry + sign * p.target1_atr * atr
    return stop, target, first


def _positive(x: float) -> bool:
    return math.isfinite(x) and x > 0
