"""Results depend on data time only: a replay or simulation decides the same at
any speed and however often (or rarely) the wall-clock timer gets to run."""
import asyncio

from tests.factories import engine_config, paper_engine


async def _run(busy_timer: bool) -> tuple[dict, list]:
    eng = paper_engine(engine_config("AUTO"))
    await eng.start()
    hammer = None
    if busy_timer:
        async def tick_all_the_time():  # a loaded machine: the timer fires at arbitrary data times
            while True:
                await eng.tick()
                await asyncio.sleep(0)

        hammer = asyncio.create_task(tick_all_the_time())
    await eng.wait_done()
    if hammer is not None:
        hammer.cancel()
    await eng.stop()
    fills = [(f.symbol, f.side.value, f.qty, f.price, f.ts_ns) for f in eng.fills]
    return eng.summary(), fills


def test_same_seed_same_trades_whenever_the_timer_runs():
    quiet = asyncio.run(_run(busy_timer=False))
    busy = asyncio.run(_run(busy_timer=True))
    assert quiet[1], "the seeded session made no fills"
    assert busy[1] == quiet[1]
    assert busy[0] == quiet[0]
