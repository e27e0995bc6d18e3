"""Login throttling over both stores: the in-process one and a real Redis
(LEADTRAIL_TEST_REDIS_URL, default the local server's database 15; fails when unreachable).
Time is passed in: no test waits or reads the clock."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest
import redis

from tracker.errors import ServiceUnavailable
from tracker.throttle import (
    FORGET_AFTER_S,
    FREE_FAILURES,
    MAX_DELAY_S,
    AttemptStore,
    LoginThrottle,
    MemoryStore,
    RedisStore,
    delay_after,
    login_keys,
)

REDIS_URL = os.environ.get("LEADTRAIL_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
T0 = 1_800_000_000.0


def redis_client() -> redis.Redis:
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2.0)
    try:
        client.ping()
    except redis.RedisError as error:
        pytest.fail(f"Redis at {REDIS_URL} is not usable ({error}); start it or set "
                    "LEADTRAIL_TEST_REDIS_URL", pytrace=False)
    return client


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> Iterator[AttemptStore]:
    if request.param == "memory":
        yield MemoryStore()
        return
    client = redis_client()
    prefix = f"leadtrail-test:{secrets.token_hex(6)}:"
    yield RedisStore(client, prefix=prefix)
    for key in client.scan_iter(prefix + "*"):
        client.delete(key)
    client.close()


def fail(throttle: LoginThrottle, email: str, address: str, times: int, now: float) -> None:
    for _ in range(times):
        throttle.failed(login_keys(email, address), now)


def test_delays_start_after_the_free_failures_and_double_up_to_the_cap() -> None:
    delays = [delay_after(n) for n in range(FREE_FAILURES + 12)]

    assert delays[:FREE_FAILURES] == [0.0] * FREE_FAILURES
    assert delays[FREE_FAILURES:FREE_FAILURES + 4] == [1.0, 2.0, 4.0, 8.0]
    assert max(delays) == MAX_DELAY_S


def test_an_account_waits_longer_after_each_failure_past_the_free_ones(store: AttemptStore
                                                                      ) -> None:
    throttle = LoginThrottle(store)
    keys = login_keys("Ada@Example.com", "203.0.113.7")

    waits = []
    for _ in range(FREE_FAILURES + 3):
        waits.append(throttle.retry_after(keys, T0))
        throttle.failed(keys, T0)
    waits.append(throttle.retry_after(keys, T0))

    assert waits[:FREE_FAILURES] == [0.0] * FREE_FAILURES
    assert waits[FREE_FAILURES:] == [1.0, 2.0, 4.0, 8.0]
    assert throttle.retry_after(keys, T0 + 8.0) == 0.0


def test_the_account_is_throttled_from_any_address_and_the_address_for_any_account(
    store: AttemptStore,
) -> None:
    throttle = LoginThrottle(store)
    fail(throttle, "ada@example.com", "203.0.113.7", FREE_FAILURES, T0)
    for n in range(FREE_FAILURES):
        fail(throttle, f"user{n}@example.com", "198.51.100.9", 1, T0)

    same_account_elsewhere = throttle.retry_after(login_keys("ada@example.com", "192.0.2.1"), T0)
    same_address_other_account = throttle.retry_after(
        login_keys("new@example.com", "198.51.100.9"), T0)
    unrelated = throttle.retry_after(login_keys("bob@example.com", "192.0.2.1"), T0)

    assert same_account_elsewhere > 0
    assert same_address_other_account > 0
    assert unrelated == 0


def test_a_success_clears_the_account_but_not_the_address(store: AttemptStore) -> None:
    throttle = LoginThrottle(store)
    keys = login_keys("ada@example.com", "203.0.113.7")
    fail(throttle, "ada@example.com", "203.0.113.7", FREE_FAILURES + 1, T0)

    throttle.succeeded(keys)

    assert throttle.retry_after(login_keys("ada@example.com", "192.0.2.1"), T0) == 0
    assert throttle.retry_after(login_keys("eve@example.com", "203.0.113.7"), T0) > 0


def test_failures_are_forgotten_a_day_after_the_last_one() -> None:
    store = MemoryStore()
    key = login_keys("ada@example.com", None).account
    for _ in range(FREE_FAILURES + 2):
        store.add_failure(key, T0)

    later = store.add_failure(key, T0 + FORGET_AFTER_S + 1)

    assert later.failures == 1


def test_redis_keys_expire_after_the_forget_window() -> None:
    client = redis_client()
    prefix = f"leadtrail-test:{secrets.token_hex(6)}:"
    store = RedisStore(client, prefix=prefix)
    try:
        store.add_failure("account:x", T0)
        ttl = client.ttl(prefix + "account:x")
    finally:
        client.delete(prefix + "account:x")
        client.close()

    assert 0 < ttl <= FORGET_AFTER_S


def test_keys_hold_no_email_and_group_ipv6_by_64() -> None:
    one = login_keys("Ada@Example.com ", "2001:db8:1:2:aaaa::1")
    two = login_keys("ada@example.com", "2001:db8:1:2:bbbb::2")
    mapped = login_keys("ada@example.com", "::ffff:203.0.113.7")

    assert one == two
    assert "ada" not in one.account and "example" not in one.account
    assert one.address == "address:2001:db8:1:2::/64"
    assert mapped.address == "address:203.0.113.7"
    assert login_keys("ada@example.com", "junk").all == (one.account,)


def test_an_unreachable_redis_refuses_sign_in_instead_of_skipping_the_check() -> None:
    closed_port = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_timeout=0.5)
    throttle = LoginThrottle(RedisStore(closed_port))

    with pytest.raises(ServiceUnavailable) as refused:
        throttle.retry_after(login_keys("ada@example.com", "203.0.113.7"), T0)

    assert refused.value.status == 503
