#!/usr/bin/env python3
"""Validates JSON documents against one of the schemas here (JSON Schema draft 2020-12).

Usage: validate.py SCHEMA DOCUMENT...   (a DOCUMENT of - is read from stdin)
Exits 0 when every document is valid, 1 with one line per error otherwise, 2 when the
schema itself is not a valid draft 2020-12 schema. Needs python3-jsonschema (Debian).
"""
import json
import sys

import jsonschema


def main(argv):
    if len(argv) < 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        schema = json.load(f)
    cls = jsonschema.Draft202012Validator
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as e:
        print(f"{argv[1]}: not a draft 2020-12 schema: {e.message}", file=sys.stderr)
        return 2
    validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    bad = 0
    for name in argv[2:]:
        doc = json.load(sys.stdin) if name == "-" else json.load(open(name))
        for e in validator.iter_errors(doc):
            where = "/".join(str(p) for p in e.absolute_path) or "(top)"
            print(f"{name}: {where}: {e.message}", file=sys.stderr)
            bad = 1
    return bad


if __name__ == "__main__":
    sys.exit(main(sys.argv))
