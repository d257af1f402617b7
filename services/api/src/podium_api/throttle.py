"""Login throttling: an exponential delay per user and per client address after failures.

Each key (the user id as given, and the client address) counts its failed logins. The first
`free` failures cost nothing; each further one blocks the key for `delay`, doubling up to
`max_delay`. While either key of a login is blocked the api answers 429 with `Retry-After`
without hashing anything, and those refused attempts do not lengthen the block, so an attacker
cannot keep a real user locked out for longer than `max_delay` at a time. A successful login
clears its user's count; an address's count clears once it has had no failure for a while.

The state lives in the process: with several api replicas each keeps its own, so an attacker
spreading attempts over N replicas gets N times the attempts (still exponentially slowed on
each). At most `MAX_KEYS` keys are kept (the oldest forgotten first), so the table itself
cannot grow without bound.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import dataclass

MAX_KEYS = 100_000


@dataclass
class _Entry:
    failures: int = 0
    blocked_until: float = 0.0
    last_failure: float = 0.0


@dataclass(frozen=True)
class Policy:
    """How many failures are free for a key, and the delay that follows them."""

    free: int
    delay: float
    max_delay: float


class LoginThrottle:
    """Failure counts and blocks of users and client addresses (monotonic clock)."""

    def __init__(self, user: Policy, address: Policy) -> None:
        self.policies = {"user": user, "address": address}
        self._entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
        # An entry without failures for this long is forgotten (well past any block).
        self._forget_after = max(900.0, 2 * max(user.max_delay, address.max_delay))

    def retry_after(self, user: str, address: str) -> int | None:
        """Seconds (rounded up) until a login for `user` from `address` is allowed; None when it is now."""
        now = time.monotonic()
        waits = [entry.blocked_until - now for entry in self._current(user, address, now) if entry.blocked_until > now]
        return math.ceil(max(waits)) if waits else None

    def failed(self, user: str, address: str) -> None:
        """Count a failed login against both keys, blocking those past their free failures."""
        now = time.monotonic()
        for kind, value in (("user", user), ("address", address)):
            entry = self._entries.get((kind, value))
            if entry is None or now - entry.last_failure > self._forget_after:
                entry = _Entry()
            self._entries[(kind, value)] = entry
            self._entries.move_to_end((kind, value))
            entry.failures += 1
            entry.last_failure = now
            policy = self.policies[kind]
            beyond = entry.failures - policy.free
            if beyond > 0:
                entry.blocked_until = now + min(policy.delay * 2 ** min(beyond - 1, 62), policy.max_delay)
        while len(self._entries) > MAX_KEYS:
            self._entries.popitem(last=False)

    def succeeded(self, user: str) -> None:
        """A login of `user` succeeded: its count starts again (the address's does not)."""
        self._entries.pop(("user", user), None)

    def _current(self, user: str, address: str, now: float) -> list[_Entry]:
        entries = []
        for key in (("user", user), ("address", address)):
            entry = self._entries.get(key)
            if entry is not None and now - entry.last_failure <= self._forget_after:
                entries.append(entry)
        return entries
