#!/usr/bin/env python3
"""check_event_schema.py — keeps docs/schema/audit-event-v1.json in step
with src/ledger/event.c.

  python3 tests/ledger/check_event_schema.py [EVENT.json ...]

Needs the `jsonschema` package (skips, exit 0, when it is missing). Checks:
  - the schema is valid draft 2020-12;
  - its members and required list are the decoder's table in event.c
    (`members[]`), name for name;
  - events written by the encoder validate: the fuzz seeds
    fuzz/corpus/event/valid_*.json (made by ledger_event_encode) and any
    files given;
  - mutations the decoder rejects are rejected by the schema too (where a
    schema can express the rule).
"""
import json
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]

try:
    import jsonschema
except ImportError:
    print("check_event_schema: jsonschema not installed, skipped")
    sys.exit(0)


def decoder_members():
    src = (ROOT / "src/ledger/event.c").read_text()
    table = src[src.index("} members[] = {"):]
    table = table[: table.index("};")]
    rows = re.findall(r'\{"([a-z0-9_]+)", M_[A-Z0-9_]+, (true|false)\}', table)
    return {name: req == "true" for name, req in rows}


def main():
    schema = json.loads((ROOT / "docs/schema/audit-event-v1.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    failures = 0

    members = decoder_members()
    if set(members) != set(schema["properties"]):
        print("members differ: decoder-only", sorted(set(members) - set(schema["properties"])),
              "schema-only", sorted(set(schema["properties"]) - set(members)))
        failures += 1
    required = sorted(k for k, v in members.items() if v)
    if required != sorted(schema["required"]):
        print("required differ:", required, "vs", sorted(schema["required"]))
        failures += 1

    files = [pathlib.Path(a) for a in sys.argv[1:]]
    files = files or sorted((ROOT / "fuzz/corpus/event").glob("valid_*.json"))
    base = None
    for f in files:
        event = json.loads(f.read_bytes())
        errors = list(validator.iter_errors(event))
        if errors:
            print(f"{f}: {errors[0].message}")
            failures += 1
        if base is None and "signature" not in event:
            base = event

    if base is not None:
        mutations = {
            "schema v2": ("schema", "custody.audit.event/v2"),
            "event_id v4": ("event_id", "01890a5d-ac96-474b-bcce-b302099a8057"),
            "timestamp 8 digits": ("timestamp", "2026-11-26T09:00:00.12345678Z"),
            "timestamp offset": ("timestamp", "2026-11-26T09:00:00.123456789+00:00"),
            "action uppercase": ("action", "Read"),
            "decision": ("decision", "maybe"),
            "sha256 uppercase": ("content_sha256", "BA" * 32),
            "status 0": ("status", 0),
            "version 0": ("version", 0),
            "bytes string": ("bytes_transferred", "1"),
            "bytes 2^53": ("bytes_transferred", 2**53),
            "latency negative": ("latency_ms", -1),
            "policies empty": ("policy_ids", []),
            "range extra": ("byte_range", {"start": 0, "length": 1, "end": 1}),
            "unknown member": ("extra", 1),
            "signature alg": ("signature", {"alg": "rsa", "key_id": "0a1b2c3d", "sig": "A" * 86 + "=="}),
        }
        for what, (key, value) in mutations.items():
            event = dict(base)
            event[key] = value
            if validator.is_valid(event):
                print(f"mutation accepted by the schema: {what}")
                failures += 1
        for key in schema["required"]:
            event = {k: v for k, v in base.items() if k != key}
            if validator.is_valid(event):
                print(f"missing required member accepted: {key}")
                failures += 1

    print(f"check_event_schema: {'ok' if not failures else 'FAILED'} ({len(files)} events)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
