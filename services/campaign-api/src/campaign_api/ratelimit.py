"""Token buckets per key (an API key's hash, a client address), in process: each replica limits
on its own (a shared limit would need a shared store). Pure: the clock is passed in."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    def __init__(self, per_second: float, burst: int, *, max_keys: int = 10_000) -> None:
        self._rate = per_second
        self._burst = burst
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def _refilled(self, key: str, now: float) -> _Bucket:
        bucket = self._buckets.pop(key, None) or _Bucket(tokens=self._burst, at=now)
        bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.at) * self._rate)
        bucket.at = now
        self._buckets[key] = bucket  # most recently used last
        if len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)
        return bucket

    def _wait(self, bucket: _Bucket) -> float:
        return 0.0 if bucket.tokens >= 1 else (1 - bucket.tokens) / self._rate

    def take(self, key: str, now: float) -> float:
        """0 when the request may go ahead (and a token is spent); else the seconds until it
        may."""
        bucket = self._refilled(key, now)
        wait = self._wait(bucket)
        if not wait:
            bucket.tokens -= 1
        return wait

    def wait(self, key: str, now: float) -> float:
        """What `take` would answer, without spending a token: for limits on what happened
        (a failed attempt), checked before the attempt and spent after it."""
        return self._wait(self._refilled(key, now))
