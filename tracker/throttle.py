"""Login throttling: growing delays per account and per client address.

Each failed sign-in counts against two keys, the account (a hash of the normalised email:
no email reaches the store or the logs) and the client address (IPv4 as is, IPv6 by its /64,
which one machine usually owns whole). The first :data:`FREE_FAILURES` failures cost nothing;
each one after doubles the wait before the next attempt is even checked, from
:data:`BASE_DELAY_S` up to :data:`MAX_DELAY_S`, so a guesser gets a few hundred tries a day
instead of thousands a minute, and a user who mistypes waits a second. A success clears the
account's count (not the address's, or one valid account would launder guesses at others);
a key is forgotten :data:`FORGET_AFTER_S` after its last failure.

Counts live in this process (:class:`MemoryStore`, one box) or in Redis
(:class:`RedisStore`, ``LEADTRAIL_REDIS_URL``, shared by a fleet). Time is passed in, never
read here.
"""

from __future__ import annotations

import hashlib
import ipaddress
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

import redis

from tracker.errors import ServiceUnavailable

FREE_FAILURES = 5
BASE_DELAY_S = 1.0
MAX_DELAY_S = 15 * 60.0
FORGET_AFTER_S = 24 * 3600
MAX_MEMORY_KEYS = 100_000


@dataclass(frozen=True, slots=True)
class Attempts:
    failures: int
    last_failure: float  # Unix seconds


class AttemptStore(Protocol):
    def get(self, key: str) -> Attempts | None: ...

    def add_failure(self, key: str, now: float) -> Attempts: ...

    def reset(self, key: str) -> None: ...


class MemoryStore:
    """Counts in this process's memory: right for one box (one process's view of its own
    clients; gunicorn workers of one box each keep their own, which only multiplies the free
    attempts by the worker count)."""

    def __init__(self) -> None:
        self._entries: dict[str, Attempts] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> Attempts | None:
        with self._lock:
            return self._entries.get(key)

    def add_failure(self, key: str, now: float) -> Attempts:
        with self._lock:
            if len(self._entries) >= MAX_MEMORY_KEYS:
                self._forget_before(now - FORGET_AFTER_S)
            before = self._entries.get(key)
            if before is not None and now - before.last_failure > FORGET_AFTER_S:
                before = None
            after = Attempts((before.failures if before else 0) + 1, now)
            self._entries[key] = after
            return after

    def reset(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def _forget_before(self, cutoff: float) -> None:
        stale = [key for key, seen in self._entries.items() if seen.last_failure < cutoff]
        for key in stale or list(self._entries)[: MAX_MEMORY_KEYS // 10]:
            del self._entries[key]


@contextmanager
def _reachable() -> Iterator[None]:
    # Sign-in fails closed when the shared counts cannot be read: skipping the check would
    # let a guesser in by knocking Redis over first.
    try:
        yield
    except redis.RedisError as error:
        reason = type(error).__name__
        raise ServiceUnavailable(
            f"sign-in is unavailable: the throttle store cannot be reached ({reason})",
            field="session",
        ) from None


class RedisStore:
    """Counts in Redis, shared by every process of a fleet: one hash per key (``failures``,
    ``last``), expiring :data:`FORGET_AFTER_S` after the last failure."""

    def __init__(self, client: redis.Redis, prefix: str = "leadtrail:login:") -> None:
        self._client = client
        self._prefix = prefix

    def get(self, key: str) -> Attempts | None:
        with _reachable():
            failures, last = self._client.hmget(self._prefix + key, ["failures", "last"])
        if failures is None or last is None:
            return None
        return Attempts(int(failures), float(last))

    def add_failure(self, key: str, now: float) -> Attempts:
        name = self._prefix + key
        with _reachable():
            pipe = self._client.pipeline(transaction=True)  # MULTI: the three as one
            pipe.hincrby(name, "failures", 1)
            pipe.hset(name, "last", repr(now))
            pipe.expire(name, FORGET_AFTER_S)
            failures, _, _ = pipe.execute()
        return Attempts(int(failures), now)

    def reset(self, key: str) -> None:
        with _reachable():
            self._client.delete(self._prefix + key)


def delay_after(failures: int) -> float:
    """Seconds an attempt must wait after ``failures`` failures in a row."""
    if failures < FREE_FAILURES:
        return 0.0
    return min(BASE_DELAY_S * 2.0 ** (failures - FREE_FAILURES), MAX_DELAY_S)


@dataclass(frozen=True, slots=True)
class LoginKeys:
    account: str
    address: str | None

    @property
    def all(self) -> tuple[str, ...]:
        return (self.account,) if self.address is None else (self.account, self.address)


def login_keys(email: str, address: str | None) -> LoginKeys:
    """The throttle keys of a sign-in attempt (no email in them, only its hash)."""
    digest = hashlib.sha256(email.strip().lower().encode("utf-8", "replace")).hexdigest()
    return LoginKeys(f"account:{digest[:32]}", _address_key(address))


def _address_key(address: str | None) -> str | None:
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is None:
        return f"address:{ipaddress.ip_network(f'{ip}/64', strict=False).network_address}/64"
    return f"address:{ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else ip}"


class LoginThrottle:
    def __init__(self, store: AttemptStore) -> None:
        self.store = store

    def retry_after(self, keys: LoginKeys, now: float) -> float:
        """Seconds before ``keys`` may try again (0: now)."""
        wait = 0.0
        for key in keys.all:
            seen = self.store.get(key)
            if seen is not None:
                wait = max(wait, seen.last_failure + delay_after(seen.failures) - now)
        return wait

    def failed(self, keys: LoginKeys, now: float) -> None:
        for key in keys.all:
            self.store.add_failure(key, now)

    def succeeded(self, keys: LoginKeys) -> None:
        self.store.reset(keys.account)


def build_throttle(redis_url: str) -> LoginThrottle:
    """In-process counts, or Redis at ``redis_url`` (no connection is made until used)."""
    if not redis_url:
        return LoginThrottle(MemoryStore())
    return LoginThrottle(RedisStore(redis.Redis.from_url(redis_url, socket_timeout=2.0)))
