#!/usr/bin/env python3
"""check_event_schema.py — keeps docs/schema/audit-event-v2.json (events
written now) and audit-event-v1.json (older events, without "edit") in step
with src/ledger/event.c.

  python3 tests/ledger/check_event_schema.py [EVENT.json ...]

Needs the `jsonschema` package (skips, exit 0, when it is missing). Checks:
  - the schemas are valid draft 2020-12;
  - v2's members and required list are the decoder's table in event.c
    (`members[]`), name for name; v1's are the same without "edit";
  - events validate against the schema their "schema" member names: the
    fuzz seeds fuzz/corpus/event/valid_*.json (made by ledger_event_encode)
    and any files given; the seeds bad_*.json that break a rule a schema
    can express are rejected;
  - mutations the decoder rejects are rejected by the schema too (where a
    schema can express the rule), for plain events and edit records.
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


V1_ONLY_MISSING = {"edit"}  # members version 2 added


def load_validators():
    out = {}
    for v in ("v1", "v2"):
        schema = json.loads((ROOT / f"docs/schema/audit-event-{v}.json").read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        out[f"custody.audit.event/{v}"] = (schema, jsonschema.Draft202012Validator(schema))
    return out


def check_members(name, schema, members):
    failures = 0
    if set(members) != set(schema["properties"]):
        print(f"{name}: members differ: decoder-only", sorted(set(members) - set(schema["properties"])),
              "schema-only", sorted(set(schema["properties"]) - set(members)))
        failures += 1
    required = sorted(k for k, v in members.items() if v)
    if required != sorted(schema["required"]):
        print(f"{name}: required differ:", required, "vs", sorted(schema["required"]))
        failures += 1
    return failures


def main():
    validators = load_validators()
    v2_schema, validator = validators["custody.audit.event/v2"]
    v1_schema, _ = validators["custody.audit.event/v1"]
    failures = 0

    members = decoder_members()
    failures += check_members("v2", v2_schema, members)
    failures += check_members("v1", v1_schema,
                              {k: v for k, v in members.items() if k not in V1_ONLY_MISSING})

    def valid(event):
        pair = validators.get(event.get("schema"))
        return pair is not None and pair[1].is_valid(event)

    files = [pathlib.Path(a) for a in sys.argv[1:]]
    files = files or sorted((ROOT / "fuzz/corpus/event").glob("valid_*.json"))
    base = edit_base = None
    for f in files:
        event = json.loads(f.read_bytes())
        pair = validators.get(event.get("schema"))
        errors = list(pair[1].iter_errors(event)) if pair else ["unknown schema"]
        if errors:
            print(f"{f}: {getattr(errors[0], 'message', errors[0])}")
            failures += 1
        if base is None and "signature" not in event:
            base = dict(event, schema="custody.audit.event/v2")
        if "destination" in event.get("edit", {}) and edit_base is None:
            edit_base = event  # an edit with both sides: every rule applies
    if not sys.argv[1:]:
        for name in ("bad_schema.json", "bad_edit_v1.json", "bad_type.json"):
            event = json.loads((ROOT / "fuzz/corpus/event" / name).read_bytes())
            if valid(event):
                print(f"{name}: accepted by the schema")
                failures += 1

    if base is not None:
        mutations = {
            "schema v1 (for the v2 schema)": ("schema", "custody.audit.event/v1"),
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
        mutations["schema v3"] = ("schema", "custody.audit.event/v3")
        for what, (key, value) in mutations.items():
            event = dict(base)
            event[key] = value
            if validator.is_valid(event):
                print(f"mutation accepted by the schema: {what}")
                failures += 1
        for key in v2_schema["required"]:
            event = {k: v for k, v in base.items() if k != key}
            if validator.is_valid(event):
                print(f"missing required member accepted: {key}")
                failures += 1

    if edit_base is not None:
        sha = "ab" * 32

        def edit_mut(fn):
            event = json.loads(json.dumps(edit_base))
            fn(event["edit"])
            return event
        edit_mutations = {
            "v1 with an edit": lambda e: None,
            "edit extra member": lambda e: e.update(extra=1),
            "edit missing version": lambda e: e.pop("version"),
            "edit missing prev_sha256": lambda e: e.pop("prev_sha256"),
            "edit version 0": lambda e: e.update(version=0),
            "edit prev_version string": lambda e: e.update(prev_version="6"),
            "edit sha uppercase": lambda e: e.update(prev_sha256=sha.upper()),
            "edit consent empty": lambda e: e.update(consent=""),
            "edit consent control": lambda e: e.update(consent="a\tb"),
            "edit consent non-ASCII": lambda e: e.update(consent="caf\u00e9"),
            "edit consent too long": lambda e: e.update(consent="x" * 513),
            "destination with consent": lambda e: e["destination"].update(consent="x"),
            "destination nested": lambda e: e["destination"].update(destination={}),
            "destination missing version": lambda e: e["destination"].pop("version"),
        }
        for what, fn in edit_mutations.items():
            event = edit_mut(fn)
            if what.startswith("v1"):
                event["schema"] = "custody.audit.event/v1"
            if valid(event):
                print(f"edit mutation accepted by the schema: {what}")
                failures += 1
        ok = edit_mut(lambda e: e.update(consent="x" * 512))
        if not valid(ok):
            print("a 512-byte consent token is refused by the schema")
            failures += 1

    print(f"check_event_schema: {'ok' if not failures else 'FAILED'} ({len(files)} events)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
