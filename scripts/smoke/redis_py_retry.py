#!/usr/bin/env python3
"""What a redis-py application retries against this store, and how (the
README's client section and docs/operations.md show this code).

-NOLEADER means nothing happened (no leader took the command): always safe to
retry. -TIMEOUT means the outcome is unknown (a write may still be applied):
retry only what is idempotent (SET, DEL, HSET of fixed values, reads), never
INCR or LPUSH. A lost connection is the same as -TIMEOUT for a write.

    python3 scripts/smoke/redis_py_retry.py 127.0.0.1:6001 [prefix]

Writes a key and bumps a counter through one node that is cut off from its
quorum when the script starts (the test restores the quorum meanwhile),
retrying as above; prints the number of retries.
"""
import sys

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

RETRIES = 0


def retrying(r, *args, idempotent):
    """Runs one command, retrying while the store says it is safe to."""

    def may_retry(error):
        global RETRIES
        text = str(error)
        if isinstance(error, redis.ResponseError):
            safe = text.startswith("NOLEADER") or (idempotent and text.startswith("TIMEOUT"))
        else:  # the connection: the command may or may not have run
            safe = idempotent
        if not safe:
            raise error
        RETRIES += 1

    retry = Retry(
        ExponentialBackoff(cap=0.5, base=0.05),
        retries=100,
        supported_errors=(redis.ConnectionError, redis.TimeoutError, redis.ResponseError),
    )
    return retry.call_with_retry(lambda: r.execute_command(*args), may_retry)


def main() -> None:
    host, port = sys.argv[1].rsplit(":", 1)
    prefix = sys.argv[2] if len(sys.argv) > 2 else "retry"
    r = redis.Redis(host=host, port=int(port), socket_timeout=10)
    key, counter = f"{prefix}:k", f"{prefix}:n"
    assert retrying(r, "SET", key, "v", idempotent=True) is True
    assert retrying(r, "INCR", counter, idempotent=False) == 1
    assert retrying(r, "GET", key, idempotent=True) == b"v"
    try:
        retrying(r, "HSET", key, "f", "x", idempotent=True)
        raise AssertionError("WRONGTYPE must not be retried into success")
    except redis.ResponseError as e:
        assert str(e).startswith("WRONGTYPE"), e
    print(f"retries={RETRIES}")


if __name__ == "__main__":
    main()
