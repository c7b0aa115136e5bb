#!/usr/bin/env python3
"""Checks the shape of the workspace where the compiler does not.

The crates themselves enforce the layering (a crate cannot name one that
does not depend on it); this checks what is left:

- in the store's crates (raft-kv-state, raft-kv, raft-kv-server): no cycle
  between a crate's modules (an edge A -> B when a file of module A names
  `crate::B...`, `super::B...` or a child `B::...` it declares, B not an
  ancestor of A) and no source file over 500 lines;
- in every shipped crate (all but the test harnesses): no `String` as an
  error type in a signature (`Result<_, String>`);
- in the store's crates and raft-cli: no control flow on error text
  (`contains("`);
- no crate holds more than 35% of the workspace's non-test code (lines of
  `.rs` files outside `tests/`, cut at a file's `#[cfg(test)]` module,
  without blank lines; `tests.rs`, `*_tests.rs` and `test_support.rs` are
  tests too).

Prints each crate's module graph and share and exits 1 on any violation.
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
STORE_CRATES = ("raft-kv-state", "raft-kv", "raft-kv-server")
TEXT_MATCH_CRATES = STORE_CRATES + ("raft-cli",)
# Test harnesses report a violation as text; shipped crates may not.
HARNESS_CRATES = ("integration-tests", "raft-testkit", "benches", "fuzz")
MAX_LINES = 500
MAX_SHARE = 35.0
SKIP_DIRS = ("target", "tests", "corpus", "artifacts")


def workspace_crates():
    return sorted(
        c for c in os.listdir(ROOT)
        if os.path.isfile(os.path.join(ROOT, c, "Cargo.toml")) and c != "target"
    )


def sources(crate):
    """The crate's non-test `.rs` files under its directory."""
    for d, dirs, names in os.walk(os.path.join(ROOT, crate)):
        dirs[:] = [x for x in dirs if x not in SKIP_DIRS]
        for n in names:
            if n.endswith(".rs") and not is_test_file(n):
                yield os.path.join(d, n)


def is_test_file(name):
    return name in ("tests.rs", "test_support.rs") or name.endswith("_tests.rs")


def module_of(src, path):
    rel = os.path.relpath(path, src)[:-3].split(os.sep)
    if rel[-1] in ("lib", "mod"):
        rel = rel[:-1]
    return tuple(rel)


def code_lines(text):
    """The file's code without comments and test code: it ends at an inline
    `#[cfg(test)] mod ... {`; a `#[cfg(test)] mod x;` declaration (the test
    module in a file of its own) is skipped, and the code after it kept."""
    out = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.strip().startswith("#[cfg(test)]"):
            nxt = lines[i + 1].strip() if i + 1 < len(lines) else ""
            if re.match(r"(pub(\(\w+\))?\s+)?mod\s+\w+\s*;", nxt):
                i += 2
                continue
            break
        out.append(re.sub(r"//.*", "", line))
        i += 1
    return "\n".join(out)


def check_modules(crate, problems):
    """The module graph of `crate` (printed), its cycles and long files."""
    src = os.path.join(ROOT, crate, "src")
    files = {}
    for d, _, names in os.walk(src):
        for n in names:
            if n.endswith(".rs"):
                p = os.path.join(d, n)
                files[module_of(src, p)] = p
    modules = set(files)
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
            # A module using its own ancestors (`super::x`, the parent's
            # re-exports) is nesting, not a cycle between peers.
            if target != mod and mod[: len(target)] != target:
                edges[mod].add(target)
    name = lambda m: "crate" if not m else "::".join(m)
    print(f"{crate} module graph (module -> modules it uses):")
    for m in sorted(modules):
        print(f"  {name(m):26} -> {', '.join(sorted(name(t) for t in edges[m])) or '-'}")
    for cycle in cycles(edges):
        problems.append(f"{crate}: module cycle: " + " -> ".join(name(m) for m in cycle))


def check_sources(crate, problems):
    """String errors everywhere; error-text matching in the store and CLI."""
    for p in sources(crate):
        # Code only: a test module asserts on text it rendered.
        code = code_lines(open(p, encoding="utf-8").read())
        for m in re.finditer(r"\bfn\s+(\w+)[^{;]*", code):
            if crate not in HARNESS_CRATES and string_error(m.group(0)):
                problems.append(f"{os.path.relpath(p, ROOT)}: String error type in fn {m.group(1)}")
        if crate in TEXT_MATCH_CRATES:
            for i, line in enumerate(code.splitlines(), 1):
                if 'contains("' in line:
                    problems.append(f"{os.path.relpath(p, ROOT)}:{i}: error-text matching: {line.strip()}")


def check_shares(crates, problems):
    """Each crate's share of the non-test code (printed), and the cap."""
    sizes = {c: sum(non_blank_code_lines(p) for p in sources(c)) for c in crates}
    total = sum(sizes.values())
    print("non-test code by crate:")
    for c in crates:
        share = 100 * sizes[c] / total
        print(f"  {c:20} {sizes[c]:6} lines {share:5.1f}%")
        if share > MAX_SHARE:
            problems.append(f"{c} holds {share:.1f}% of the code (limit {MAX_SHARE}%)")
    print(f"  {'total':20} {total:6} lines")


def non_blank_code_lines(path):
    text = code_lines(open(path, encoding="utf-8").read())
    return sum(1 for line in text.splitlines() if line.strip())


def main():
    problems = []
    crates = workspace_crates()
    for crate in STORE_CRATES:
        check_modules(crate, problems)
    for crate in crates:
        check_sources(crate, problems)
    check_shares(crates, problems)
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
