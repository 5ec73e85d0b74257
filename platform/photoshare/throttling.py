"""Attempt counters that parallel requests cannot overrun (log-in, password checks,
sign-up).

Flask-Limiter's `deduct_when` limits first *test* the counter and only *add* to it once
the response is known, so twenty wrong passwords sent at the same moment all pass the
test before any of them is counted. Here each attempt is counted first, with one atomic
INCR (the `limits` fixed-window strategy on Redis), and is refused if that count is over
the limit; an attempt that turns out not to be a failure is given back (`refund`).

Counters live in Redis under the deployment prefix. If Redis does not answer they fall
back to this process's memory for a while (log-in keeps working, throttled per process)
rather than locking everyone out or letting every attempt through.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

from flask import Flask, current_app
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, RedisStorage
from limits.strategies import FixedWindowRateLimiter

from .extensions import limiter_key

REDIS_RETRY_SECONDS = 30


@dataclass
class Attempt:
    """One counted attempt: `allowed` unless the limit was already reached."""
    counters: "AttemptCounters"
    item: RateLimitItem
    key: str
    allowed: bool
    retry_after: int

    def __bool__(self) -> bool:
        return self.allowed

    def refund(self) -> None:
        """Not a failure after all (a right password): the attempt no longer counts."""
        self.counters.give_back(self.item, self.key)


class AttemptCounters:
    def __init__(self, app: Flask) -> None:
        self.app = app
        self._lock = threading.Lock()
        self._pid = None
        self._redis: FixedWindowRateLimiter | None = None
        self._memory = FixedWindowRateLimiter(MemoryStorage())
        self._redis_down_until = 0.0

    def _limiter(self) -> FixedWindowRateLimiter:
        if time.monotonic() < self._redis_down_until:
            return self._memory
        if self._pid != os.getpid():  # lazily, per process: a Redis client may not cross a fork
            with self._lock:
                self._redis = FixedWindowRateLimiter(RedisStorage(
                    self.app.config["REDIS_URL"], socket_connect_timeout=2, socket_timeout=2))
                self._pid = os.getpid()
        return self._redis

    def _run(self, action):
        limiter = self._limiter()
        try:
            return action(limiter)
        except Exception as error:  # Redis unreachable or failing: any error of its client
            if limiter is self._memory:
                raise
            self.app.logger.warning("throttling counters fall back to memory: %r", error)
            self._redis_down_until = time.monotonic() + REDIS_RETRY_SECONDS
            return action(self._memory)

    def take(self, scope: str, value: str, limit: str) -> Attempt:
        """Count one attempt of `scope` for `value` against `limit` ("5 per 15 minutes")."""
        item, key = parse(limit), limiter_key(scope, value)

        def count(limiter: FixedWindowRateLimiter):
            allowed = limiter.hit(item, key)
            retry_after = 0
            if not allowed:
                retry_after = max(1, int(limiter.get_window_stats(item, key).reset_time - time.time()) + 1)
            return allowed, retry_after

        allowed, retry_after = self._run(count)
        attempt = Attempt(self, item, key, allowed, retry_after)
        if not allowed:
            attempt.refund()  # a refused attempt was not tried: only real failures count
        return attempt

    def give_back(self, item: RateLimitItem, key: str) -> None:
        self._run(lambda limiter: limiter.storage.incr(item.key_for(key), item.get_expiry(), amount=-1))


def init_app(app: Flask) -> AttemptCounters:
    counters = AttemptCounters(app)
    app.extensions["photoshare.attempts"] = counters
    return counters


def take_attempt(scope: str, value: str, limit: str) -> Attempt:
    return current_app.extensions["photoshare.attempts"].take(scope, value, limit)


@dataclass
class Attempts:
    """One attempt counted on several counters at once (a log-in per account and per
    address): all taken, or none, since a full counter gives back those taken before it."""
    taken: list[Attempt]
    refused: Attempt | None = None
    refused_scope: str | None = None

    def __bool__(self) -> bool:
        return self.refused is None

    @property
    def retry_after(self) -> int:
        return self.refused.retry_after if self.refused is not None else 0

    def refund(self) -> None:
        """Not a failure after all (a right password): none of the counters keeps it."""
        for attempt in self.taken:
            attempt.refund()


def take_attempts(*counters: tuple[str, str, str]) -> Attempts:
    """Count one attempt on each (scope, value, limit), in order; stops at the first full one."""
    taken: list[Attempt] = []
    for scope, value, limit in counters:
        attempt = take_attempt(scope, value, limit)
        if not attempt:
            Attempts(taken).refund()
            return Attempts([], attempt, scope)
        taken.append(attempt)
    return Attempts(taken)

