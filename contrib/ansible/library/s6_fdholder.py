#!/usr/bin/python
# -*- coding: utf-8 -*-
# An Ansible module for s6-fdholder-setdump's config mode: plain Python, nothing beyond
# Ansible and the tool. Whether anything changed comes from the tool's exit code
# (--exit-code: 2 changed, 0 not) and its JSON document (--json), never from its text.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: s6_fdholder
short_description: Converge what an s6-fdholderd daemon holds with a config file
description:
  - Runs C(s6-fdholder-setdump --json --exit-code -c FILE [SOCKET]), which opens the fds
    the file declares that the daemon does not hold as declared, fixes in place what can
    be, and sets the rest in one setdump.
  - In check mode it runs C(--check) instead, which opens, creates and sends nothing.
  - In diff mode the diff is the plan, per id, as the daemon holds it and as the file
    declares it.
options:
  config:
    description: Path of the config file (see s6-fdholder-setdump.toml(5)).
    type: path
  content:
    description: The config file's text, inline; written to a private temporary file.
    type: str
  socket:
    description: The daemon's socket; without it, the file's C(fdholder) key.
    type: path
  prune:
    description: Also remove the ids the daemon holds and the file does not declare.
    type: bool
    default: false
  binary:
    description: The s6-fdholder-setdump program, a path or a name looked up in PATH.
    type: str
    default: s6-fdholder-setdump
notes:
  - Supports check mode and diff mode.
"""

EXAMPLES = r"""
- name: The web service's sockets are held
  s6_fdholder:
    config: /etc/s6-fdholder/web.toml
    socket: /run/s6-rc/servicedirs/s6rc-fdholderd/s
    prune: true
"""

RETURN = r"""
totals:
  description: The tool's counts (new, same, changed, extra, set, deleted, replaced, fixed).
  type: dict
  returned: success
fds:
  description: One object per id, as the tool's JSON document has it (schemas/setdump.schema.json).
  type: list
  returned: success
applied:
  description: Whether the plan was carried out (false in check mode).
  type: bool
  returned: success
"""

import json
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule

# The tool's exit code with --exit-code when the holdings changed (or would change).
EXIT_CHANGED = 2


def describe(row, side):
    """One line of the diff for an id, as the daemon holds it (side "before") or as the file
    declares it ("after"); None when the id is absent on that side."""
    state = row.get("state")
    if side == "before" and state == "new":
        return None
    if side == "after" and state == "extra" and row.get("action") == "delete":
        return None
    words = [row["id"], row.get("kind") or "?", row.get("address") or "?"]
    for d in row.get("differs") or []:
        words.append("%s=%s" % (d["what"], d["before"] if side == "before" else d["after"]))
    return " ".join(words)


def diff_of(doc):
    """Ansible's diff from the tool's JSON document."""
    sides = {}
    for side in ("before", "after"):
        lines = [describe(row, side) for row in doc.get("fds", [])]
        sides[side] = "".join(line + "\n" for line in lines if line is not None)
    return sides


def main():
    module = AnsibleModule(
        argument_spec=dict(
            config=dict(type="path"),
            content=dict(type="str"),
            socket=dict(type="path"),
            prune=dict(type="bool", default=False),
            binary=dict(type="str", default="s6-fdholder-setdump"),
        ),
        mutually_exclusive=[("config", "content")],
        required_one_of=[("config", "content")],
        supports_check_mode=True,
    )
    p = module.params
    binary = p["binary"]
    if os.sep not in binary:
        binary = module.get_bin_path(binary, required=True)
    path, temporary = p["config"], None
    if p["content"] is not None:
        fd, temporary = tempfile.mkstemp(prefix="s6_fdholder.", suffix=".toml")
        with os.fdopen(fd, "w") as f:
            f.write(p["content"])
        path = temporary
    args = [binary, "--json", "--exit-code"]
    if module.check_mode:
        args.append("--check")
    if p["prune"]:
        args.append("--prune")
    args += ["-c", path]
    if p["socket"]:
        args.append(p["socket"])
    try:
        rc, out, err = module.run_command(args)
    finally:
        if temporary is not None:
            os.unlink(temporary)
    if rc not in (0, EXIT_CHANGED):
        # The tool's own one-line message, without its program-name prefix.
        msg = err.strip().splitlines()[-1] if err.strip() else "exited %d" % rc
        module.fail_json(msg=msg, rc=rc, stderr=err, cmd=args)
    try:
        doc = json.loads(out)
    except ValueError as e:
        module.fail_json(msg="the tool's output is not JSON: %s" % e, rc=rc, stdout=out)
    result = dict(
        changed=rc == EXIT_CHANGED,
        totals=doc.get("totals"),
        fds=doc.get("fds"),
        applied=doc.get("applied"),
        rc=rc,
    )
    if module._diff:
        result["diff"] = diff_of(doc)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
