#!/usr/bin/env python3
"""Checks the shape of the raft-kv crate (issue: the node runtime, restructured).

- no cycle between its modules (an edge A -> B when a file of module A names
  `crate::B...`, `super::B...` or a child `B::...` it declares);
- no source file over 500 lines;
- no `String` as an error type in a public signature (`Result<_, String>`);
- no control flow on error text (`contains("`) in raft-kv/src and raft-cli/src.

Prints the module graph and exits 1 on any violation.
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SRC = os.path.join(ROOT, "raft-kv", "src")
MAX_LINES = 500


def module_of(path):
    rel = os.path.relpath(path, SRC)[:-3].split(os.sep)
    if rel[-1] in ("lib", "mod"):
        rel = rel[:-1]
    return tuple(rel)


def code_lines(text):
    """The file's code before its test module, without comments."""
    out = []
    for line in text.splitlines():
        if line.strip().startswith("#[cfg(test)]"):
            break
        out.append(re.sub(r"//.*", "", line))
    return "\n".join(out)


def main():
    files = {}
    for d, _, names in os.walk(SRC):
        for n in names:
            if n.endswith(".rs"):
                p = os.path.join(d, n)
                files[module_of(p)] = p
    modules = set(files)
    problems = []
    edges = {m: set() for m in modules}
    for mod, path in files.items():
        text = open(path, encoding="utf-8").read()
        lines = text.count("\n") + 1
        if lines > MAX_LINES:
            problems.append(f"{os.path.relpath(path, ROOT)}: {lines} lines (limit {MAX_LINES})")
        code = code_lines(text)
        children = set(re.findall(r"^\s*(?:pub(?:\([a-z]+\))?\s+)?mod\s+(\w+)\s*;", code, re.M))
        refs = []
        for m in re.finditer(r"\b(crate|super)((?:::\w+)+)", code):
            base = () if m.group(1) == "crate" else mod[:-1]
            refs.append(base + tuple(m.group(2).split("::")[1:]))
        # `child::x` or `child::{x, y}`: a path that starts at a declared child.
        for m in re.finditer(r"(?<![:\w])(\w+)::", code):
            if m.group(1) in children:
                refs.append(mod + (m.group(1),))
        for ref in refs:
            target = max((ref[:i] for i in range(len(ref) + 1) if ref[:i] in modules), key=len)
            if target != mod:
                edges[mod].add(target)
        for m in re.finditer(r"pub(?:\(crate\))?\s+fn\s+(\w+)[^{;]*", code):
            if string_error(m.group(0)):
                problems.append(f"{os.path.relpath(path, ROOT)}: String error type in fn {m.group(1)}")
    name = lambda m: "crate" if not m else "::".join(m)
    print("raft-kv module graph (module -> modules it uses):")
    for m in sorted(modules):
        print(f"  {name(m):22} -> {', '.join(sorted(name(t) for t in edges[m])) or '-'}")
    for cycle in cycles(edges):
        problems.append("module cycle: " + " -> ".join(name(m) for m in cycle))
    for d in ("raft-kv/src", "raft-cli/src"):
        for dd, _, names in os.walk(os.path.join(ROOT, d)):
            for n in names:
                p = os.path.join(dd, n)
                # Code only: a test module asserts on text it rendered.
                code = code_lines(open(p, encoding="utf-8").read())
                for i, line in enumerate(code.splitlines(), 1):
                    if 'contains("' in line:
                        problems.append(f"{os.path.relpath(p, ROOT)}:{i}: error-text matching: {line.strip()}")
    for p in problems:
        print("FAIL:", p)
    print("structure: OK" if not problems else f"structure: {len(problems)} problem(s)")
    return 1 if problems else 0


def string_error(signature):
    """True if a `Result<T, E>` in `signature` has E == String."""
    for start in (m.end() for m in re.finditer(r"Result<", signature)):
        depth, args, cur = 1, [], ""
        for ch in signature[start:]:
            if ch == "<":
                depth += 1
            elif ch == ">":
                depth -= 1
                if depth == 0:
                    break
            if ch == "," and depth == 1:
                args.append(cur)
                cur = ""
            else:
                cur += ch
        args.append(cur)
        if len(args) == 2 and args[1].strip() == "String":
            return True
    return False


def cycles(edges):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


if __name__ == "__main__":
    sys.exit(main())
