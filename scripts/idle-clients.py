#!/usr/bin/env python3
"""Opens N idle client connections to HOST:PORT (each sends one PING and reads
its PONG), prints "ready N" and holds them until killed.

    scripts/idle-clients.py 127.0.0.1:6501 10000 &
"""
import resource
import socket
import sys
import time

addr, n = sys.argv[1], int(sys.argv[2])
host, port = addr.rsplit(":", 1)
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
conns = []
for _ in range(n):
    s = socket.create_connection((host, int(port)))
    s.sendall(b"PING\r\n")
    reply = s.recv(16)
    if not reply.startswith(b"+PONG"):
        sys.exit(f"expected +PONG, got {reply!r}")
    conns.append(s)
print(f"ready {len(conns)}", flush=True)
while True:
    time.sleep(3600)
