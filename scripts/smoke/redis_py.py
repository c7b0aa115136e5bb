#!/usr/bin/env python3
"""Smoke test of redis-py with its default settings (redis-py 8 opens with
HELLO 3) against one node: strings, counters, a transactional pipeline
(MULTI/EXEC), a plain pipeline, CLIENT ID, INFO, and pub/sub (a subscriber
and a pattern subscriber on the node, messages published through it).

    python3 scripts/smoke/redis_py.py 127.0.0.1:6001 [prefix]
"""
import sys
import time

import redis


def main() -> None:
    host, port = sys.argv[1].rsplit(":", 1)
    prefix = sys.argv[2] if len(sys.argv) > 2 else "smoke"
    r = redis.Redis(host=host, port=int(port))
    assert r.ping() is True
    a, n, t = f"{prefix}:a", f"{prefix}:n", f"{prefix}:t"
    assert r.set(a, "1") is True
    assert r.get(a) == b"1"
    assert r.incr(n) == 1
    with r.pipeline(transaction=True) as p:
        p.set(t, "x")
        p.incr(n)
        p.get(t)
        assert p.execute() == [True, 2, b"x"], "MULTI/EXEC pipeline"
    with r.pipeline(transaction=False) as p:
        p.incr(n)
        p.mget(a, t)
        assert p.execute() == [3, [b"1", b"x"]]
    assert r.delete(a) == 1
    assert r.exists(a) == 0
    assert isinstance(r.client_id(), int)
    info = r.info()
    assert "redis_version" in info, sorted(info)
    pubsub(r, prefix)
    print(f"redis-py {redis.__version__} against {sys.argv[1]}: OK")


def next_message(p, timeout: float = 5.0):
    """The next message (not a subscribe confirmation) within `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = p.get_message(ignore_subscribe_messages=True, timeout=0.2)
        if m is not None:
            return m
    raise AssertionError("no message arrived")


def pubsub(r, prefix: str) -> None:
    ch = f"{prefix}:news"
    p = r.pubsub()
    p.subscribe(ch)
    p.psubscribe(f"{prefix}:*")
    confirmations = [p.get_message(timeout=5) for _ in range(2)]
    assert [c["type"] for c in confirmations] == ["subscribe", "psubscribe"], confirmations
    assert r.publish(ch, "first") == 2, "a channel and a pattern subscriber"
    assert r.pubsub_numsub(ch) == [(ch.encode(), 1)]
    assert r.pubsub_numpat() == 1
    got = [next_message(p), next_message(p)]
    assert {(m["type"], m["data"]) for m in got} == {
        ("message", b"first"),
        ("pmessage", b"first"),
    }, got
    p.punsubscribe()
    assert r.publish(ch, "second") == 1
    assert next_message(p)["data"] == b"second"
    p.close()


if __name__ == "__main__":
    main()
