"""`podium-master` with a faster scheduler clock: `python -m tests.master.fast_clock_master FLAGS`.

Cron expressions tick once a minute at best; tests of several masters need many ticks in a
few seconds. This entry point runs the real master, whose scheduler reads a clock going
`PODIUM_TEST_CLOCK_SPEED` times faster than the system's from `PODIUM_TEST_CLOCK_EPOCH` (Unix
seconds, the same for every master of a test, so that they agree on the time). Nothing but
the scheduler's clock differs.
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime

from podium_master import schedules
from podium_master.__main__ import main

EPOCH = float(os.environ["PODIUM_TEST_CLOCK_EPOCH"])
SPEED = float(os.environ.get("PODIUM_TEST_CLOCK_SPEED", "60"))


class FastClock:
    """The scheduler's clock, `SPEED` times faster than the system's since `EPOCH`."""

    def now(self) -> datetime:
        """The scaled time."""
        return datetime.fromtimestamp(EPOCH + (time.time() - EPOCH) * SPEED, UTC)

    async def sleep_until(self, when: datetime) -> None:
        """Sleep the real time until the scaled clock reaches `when`."""
        await asyncio.sleep(max(0.0, (when - self.now()).total_seconds() / SPEED))


schedules.RealClock = FastClock  # type: ignore[misc, assignment]

if __name__ == "__main__":
    main()
