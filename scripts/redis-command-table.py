#!/usr/bin/env python3
"""Writes the command table of a running Redis (COMMAND and COMMAND DOCS, read
in RESP3) as JSON, one command per line: the reference the store's command
registry takes its metadata from and is compared with.

    redis-server --port 6399 --save '' &
    scripts/redis-command-table.py 6399 > raft-kv-state/commands/redis-7.0.15.json

Each line holds name, arity, flags, the legacy (first, last, step) key
positions, ACL categories, tips, key specs and docs (as RESP trees: a string
is a bulk string, {"s": x} a simple string, {"set": [...]} a set, {"map":
[[k, v], ...]} a map), and the subcommands in the same shape.
"""
import json
import socket
import sys


class Resp:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.file = self.sock.makefile("rb")

    def call(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a.encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)
        return self.read()

    def read(self):
        line = self.file.readline()[:-2]
        tag, rest = line[:1], line[1:]
        if tag == b"+":
            return {"s": rest.decode()}
        if tag == b"-":
            raise RuntimeError(rest.decode())
        if tag == b":":
            return int(rest)
        if tag == b"$":
            return self.file.read(int(rest) + 2)[:-2].decode()
        if tag in (b"*", b"~"):
            items = [self.read() for _ in range(int(rest))]
            return items if tag == b"*" else {"set": items}
        if tag == b"%":
            return {"map": [[self.read(), self.read()] for _ in range(int(rest))]}
        if tag == b"_":
            return None
        raise RuntimeError(f"unexpected reply {line!r}")


def items(tree):
    return tree["set"] if isinstance(tree, dict) else tree


def strings(tree):
    items = tree["set"] if isinstance(tree, dict) else tree
    return [i["s"] if isinstance(i, dict) else i for i in items]


def entry(info, docs):
    name = info[0]
    doc = dict(docs.get(name, {"map": []})["map"])
    sub_docs = dict(doc.pop("subcommands", {"map": []})["map"])
    return {
        "name": name,
        "arity": info[1],
        "flags": strings(info[2]),
        "keys": [info[3], info[4], info[5]],
        "acl": strings(info[6]),
        "tips": strings(info[7]),
        "key_specs": info[8],
        "docs": {"map": [[k, v] for k, v in doc.items()]},
        "subcommands": sorted(
            (entry(s, sub_docs) for s in items(info[9])), key=lambda e: e["name"]
        ),
    }


def main():
    r = Resp(int(sys.argv[1]))
    hello = dict(r.call("HELLO", "3")["map"])
    table = r.call("COMMAND")
    docs = dict(r.call("COMMAND", "DOCS")["map"])
    entries = sorted((entry(i, docs) for i in table), key=lambda e: e["name"])
    print("[")
    print(f'{{"source": "Redis {hello["version"]}: COMMAND and COMMAND DOCS in RESP3"}},')
    for i, e in enumerate(entries):
        sep = "," if i + 1 < len(entries) else ""
        print(json.dumps(e, separators=(",", ":")) + sep)
    print("]")


if __name__ == "__main__":
    main()
