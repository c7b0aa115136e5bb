#!/usr/bin/env python3
"""Smoke test of redis-py with its default settings (redis-py 8 opens with
HELLO 3) against one node: strings, counters, a transactional pipeline
(MULTI/EXEC), a plain pipeline, CLIENT ID and INFO.

    python3 scripts/smoke/redis_py.py 127.0.0.1:6001 [prefix]
"""
import sys

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
    print(f"redis-py {redis.__version__} against {sys.argv[1]}: OK")


if __name__ == "__main__":
    main()
