#!/usr/bin/env python3
"""Independently re-verify an `osprey audit export` (JSON Lines), with nothing but the Python standard library.

Each line is an event envelope. hash = SHA-256 of the canonical JSON of every field but `hash`
(sorted keys, no whitespace, UTF-8); the first prev_hash is 64 zeros; seqs run 1, 2, 3, ...
Prints `ok N HEAD` and exits 0, or `BROKEN at seq N: reason` and exits 1.
"""
import hashlib
import json
import sys


def canonical(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def verify(lines, first_seq=1, prev="0" * 64):
    expected = first_seq
    count = 0
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line:
            continue
        try:
            event = json.loads(line)
        except ValueError as error:
            return False, count, prev, expected, f"line {number} is not JSON: {error}"
        claimed = event.pop("hash", None)
        if event.get("seq") != expected:
            return False, count, prev, expected, f"expected seq {expected}, found {event.get('seq')}"
        if event.get("prev_hash") != prev:
            return False, count, prev, expected, f"seq {expected} does not link to the event before it"
        if hashlib.sha256(canonical(event)).hexdigest() != claimed:
            return False, count, prev, expected, f"seq {expected} hash does not match its content"
        prev = claimed
        expected += 1
        count += 1
    return True, count, prev, None, None


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "-"
    handle = sys.stdin if path == "-" else open(path, encoding="utf-8")
    ok, count, head, bad, reason = verify(handle)
    if ok:
        print(f"ok {count} {head}")
        return 0
    print(f"BROKEN at seq {bad}: {reason}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
