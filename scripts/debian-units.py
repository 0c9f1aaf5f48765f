#!/usr/bin/env python3
"""Measures the systemd import on every socket unit Debian ships.

Finds every package with a `.socket` file (apt-file), downloads and extracts them
(apt-get download, dpkg-deb -x), converts each distinct unit with
`s6-fdholder-inspect --from-systemd` (a template with `--instance test`), moves what the
result would create under a temporary root, its ports to free loopback ports and its
unknown users and groups to numeric ids, applies it to a real s6-fdholderd of its own,
then applies it again to see it converge: `--check` plans only `=` and a third run says
nothing to do. Prints a Markdown table: converted, refused (why), applied, converged, and
what each unit's warnings are about.

Usage: scripts/debian-units.py [--cache DIR] [--bin DIR] [--details FILE]
  --cache DIR    where the .deb files go and stay between runs (default: /tmp/debian-units)
  --bin DIR      where s6-fdholder-inspect and s6-fdholder-setdump are (default:
                 target/debug of this repository; build it first)
  --details FILE every unit's row, warnings and errors, as JSON

Needs root (apt-get install apt-file, apt-file update; the units' owners), the s6 package
(s6-fdholder-daemon) and network access to a Debian mirror through apt.
"""

import argparse
import collections
import grp
import hashlib
import json
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import tomllib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Warnings about what s6 does differently by design, not about the sockets themselves.
BY_DESIGN = re.compile(
    r"^(Accept|MaxConnections|MaxConnectionsPerSource|Service|RemoveOnStop|Exec\w+|"
    r"TriggerLimit\w+|PollLimit\w+|FlushPending|Timeout\w*|FileDescriptorName|RuntimeDirectory\w*)=")


def sh(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, **kw)


def ensure_apt_file():
    if shutil.which("apt-file") is None:
        subprocess.run(["apt-get", "install", "-y", "apt-file"], check=True,
                       env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    if sh(["apt-file", "search", "-x", r"/dbus\.socket$"]).stdout.strip() == "":
        subprocess.run(["apt-file", "update"], check=True)


def unit_files():
    """(package, path) of every .socket file that is not an enablement symlink."""
    out = sh(["apt-file", "search", "-x", r"\.socket$"]).stdout
    files = []
    for line in out.splitlines():
        pkg, _, path = line.partition(": ")
        if ".wants/" in path or ".requires/" in path:
            continue
        files.append((pkg.strip(), path.strip()))
    return files


def fetch(pkgs, cache):
    """Downloads the packages not yet in `cache` and extracts each; returns pkg -> root."""
    debs = os.path.join(cache, "debs")
    os.makedirs(debs, exist_ok=True)
    have = {f.split("_")[0] for f in os.listdir(debs) if f.endswith(".deb")}
    missing = sorted(set(pkgs) - have)
    for i in range(0, len(missing), 40):
        # One by one when a batch fails: one unavailable package must not lose the rest.
        batch = missing[i:i + 40]
        if sh(["apt-get", "download", *batch], cwd=debs).returncode != 0:
            for p in batch:
                sh(["apt-get", "download", p], cwd=debs)
    roots = {}
    for f in sorted(os.listdir(debs)):
        if not f.endswith(".deb"):
            continue
        pkg = f.split("_")[0]
        root = os.path.join(cache, "x", pkg)
        if not os.path.isdir(root):
            os.makedirs(root)
            sh(["dpkg-deb", "-x", os.path.join(debs, f), root])
        roots[pkg] = root
    return roots


def resolve_in(root, path):
    """`path` inside the extracted tree `root`, following symlinks inside it."""
    p = path
    for _ in range(20):
        full = root + p
        if os.path.islink(full):
            target = os.readlink(full)
            p = target if target.startswith("/") else os.path.normpath(
                os.path.join(os.path.dirname(p), target))
            continue
        return full if os.path.isfile(full) else None
    return None


def free_port(ip, kind):
    fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
    ty = socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM
    with socket.socket(fam, ty) as s:
        s.bind((ip, 0))
        return s.getsockname()[1]


def known(db, name):
    try:
        db(name)
        return True
    except KeyError:
        return False


def numeric(name, base):
    return base + int(hashlib.sha256(name.encode()).hexdigest(), 16) % 10000


class Relocator:
    """Rewrites the converted TOML so it can be applied here: paths under `root`,
    abstract names tagged, ports free on loopback, unknown users and groups numeric."""

    def __init__(self, root, tag):
        self.root, self.tag = root, tag
        self.kind = None

    def value(self, key, v):
        if key == "path":
            if v.startswith("@"):
                return "@" + self.tag + "-" + v[1:]
            if self.kind == "special":
                # A regular file of its own stands in for the device.
                os.makedirs(os.path.dirname(self.root + v), exist_ok=True)
                open(self.root + v, "a").close()
            return self.root + v
        if key == "symlinks":
            return [self.root + p for p in v]
        if key == "listen":
            host = v.rsplit(":", 1)[0]
            ip = "::1" if host.startswith("[") else "127.0.0.1"
            port = free_port(ip, self.kind)
            return f"[{ip}]:{port}" if ip == "::1" else f"{ip}:{port}"
        if key == "bind-to-device":
            return "lo"
        if key == "owner" and isinstance(v, str) and not known(pwd.getpwnam, v):
            return numeric(v, 60000)
        if key == "group" and isinstance(v, str) and not known(grp.getgrnam, v):
            return numeric(v, 60000)
        return v

    def rewrite(self, text):
        out = []
        for line in text.splitlines():
            m = re.match(r"^([a-z-]+) = (.*)$", line)
            if line == "[[fd]]":
                self.kind = None
            if m:
                key = m.group(1)
                v = tomllib.loads(line)[key]
                if key == "kind":
                    self.kind = v
                elif key == "id" and v.startswith(("unix:", "fifo:", "tcp:", "udp:")):
                    v = None  # A default-looking id follows the path or port it names.
                else:
                    v = self.value(key, v)
                if v is None:
                    continue
                line = f"{key} = {json.dumps(v, ensure_ascii=False)}"
            out.append(line)
        return "\n".join(out) + "\n"


class Daemon:
    """A real s6-fdholderd in `dir`, ready when it has written its newline."""

    def __init__(self, dir):
        rules = os.path.join(dir, "rules", "uid", str(os.geteuid()))
        os.makedirs(os.path.join(rules, "env"))
        open(os.path.join(rules, "allow"), "w").close()
        for k, v in [("S6_FDHOLDER_SETDUMP", ""), ("S6_FDHOLDER_GETDUMP", ""),
                     ("S6_FDHOLDER_LIST", ""), ("S6_FDHOLDER_STORE_REGEX", ".*"),
                     ("S6_FDHOLDER_RETRIEVE_REGEX", ".*")]:
            with open(os.path.join(rules, "env", k), "w") as f:
                f.write(v + "\n")
        self.socket = os.path.join(dir, "s")
        self.proc = subprocess.Popen(
            ["s6-fdholder-daemon", "-1", "-n", "1000", "-i",
             os.path.join(dir, "rules"), self.socket],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
        if self.proc.stdout.read(1) != b"\n":
            raise RuntimeError("s6-fdholder-daemon did not become ready")

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def refusal(err):
    """Why a conversion failed, in a few words."""
    m = re.search(r"the specifier (%.)", err)
    if m:
        return "specifier " + m.group(1)
    if "no ListenStream" in err:
        kinds = sorted(set(re.findall(r": (Listen\w+)=", err)))
        return "only " + ", ".join(kinds) if kinds else "no Listen*= line"
    return err.strip().splitlines()[-1][:80] if err.strip() else "?"


def about(warning):
    """The directive or section a warning is about."""
    m = re.search(r"\.socket:\d+: ([A-Za-z0-9]+)=", warning)
    return m.group(1) if m else "other"


def run_unit(unit, name, inspect, setdump, work):
    row = {"unit": name, "warnings": [], "lost": []}
    args = [inspect, "--from-systemd", unit]
    stem = name.rsplit(".", 1)[0]
    if stem.endswith("@"):
        args += ["--instance", "test"]
    out = sh(args)
    warnings = [l for l in out.stderr.splitlines() if ": warning: " in l]
    row["warnings"] = warnings
    for w in warnings:
        d = about(w)
        sect = d in ("Unit", "Install") or "[Unit]" in w
        if not BY_DESIGN.search(w.split(": ", 3)[-1]) and "s6-rc" not in w \
                and "checks the condition" not in w and not sect \
                and "and none is carried over" not in w:
            row["lost"].append(d)
    if out.returncode != 0:
        row["refused"] = refusal(out.stderr)
        return row
    row["converted"] = True
    dir = tempfile.mkdtemp(prefix="du", dir=work)
    tag = "du" + os.path.basename(dir)[2:]
    toml = Relocator(os.path.join(dir, "r"), tag).rewrite(out.stdout)
    config = os.path.join(dir, "c.toml")
    with open(config, "w") as f:
        f.write(toml)
    d = Daemon(dir)
    try:
        first = sh([setdump, "-c", config, d.socket])
        row["applied"] = first.returncode == 0
        if not row["applied"]:
            row["error"] = first.stderr.strip()
            return row
        check = sh([setdump, "--check", "-c", config, d.socket])
        signs = [l.split("\t", 1)[0] for l in check.stdout.splitlines()]
        again = sh([setdump, "-v", "-c", config, d.socket])
        row["converged"] = (check.returncode == 0 and signs and
                            all(s == "=" for s in signs) and again.returncode == 0 and
                            "nothing to do" in again.stderr)
        if not row["converged"]:
            row["error"] = check.stdout + check.stderr + again.stderr
    finally:
        d.stop()
        shutil.rmtree(dir, ignore_errors=True)
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", default="/tmp/debian-units")
    ap.add_argument("--bin", default=os.path.join(REPO, "target", "debug"))
    ap.add_argument("--details")
    a = ap.parse_args()
    inspect = os.path.join(a.bin, "s6-fdholder-inspect")
    setdump = os.path.join(a.bin, "s6-fdholder-setdump")
    ensure_apt_file()
    files = unit_files()
    roots = fetch({p for p, _ in files}, a.cache)
    # Distinct units: the same file shipped twice (/lib and /usr/lib, two packages) once.
    seen, units, unavailable = {}, [], []
    for pkg, path in sorted(files):
        full = resolve_in(roots[pkg], path) if pkg in roots else None
        if full is None:
            unavailable.append(f"{pkg}: {path}")
            continue
        with open(full, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        if digest in seen:
            continue
        seen[digest] = path
        # Converted under its own name, as systemd names the unit after its file.
        units.append((pkg, path, full))
    work = tempfile.mkdtemp(prefix="du")
    rows = []
    for pkg, path, full in units:
        name = os.path.basename(path)
        tmp = os.path.join(work, name)
        shutil.copyfile(full, tmp)
        row = run_unit(tmp, name, inspect, setdump, work)
        os.unlink(tmp)
        row["package"], row["path"] = pkg, path
        row["user"] = "/systemd/user/" in path or "systemd-user" in path
        rows.append(row)
    shutil.rmtree(work, ignore_errors=True)

    conv = [r for r in rows if r.get("converted")]
    applied = [r for r in conv if r.get("applied")]
    converged = [r for r in applied if r.get("converged")]
    refused = collections.Counter(r["refused"] for r in rows if "refused" in r)
    lost = collections.Counter(d for r in conv for d in set(r["lost"]))
    print(f"| distinct units | converted | refused | applied | converged |")
    print(f"|---|---|---|---|---|")
    print(f"| {len(rows)} | {len(conv)} | {len(rows) - len(conv)} | {len(applied)} "
          f"| {len(converged)} |")
    print()
    print("| refused because | units |")
    print("|---|---|")
    for why, n in refused.most_common() or [("(none)", 0)]:
        print(f"| {why} | {n} |")
    print()
    design = collections.Counter(
        about(w) for r in conv for w in set(r["warnings"]) if about(w) not in r["lost"])
    print("| warnings about what s6 does otherwise (by design) | units |")
    print("|---|---|")
    for d, n in design.most_common(8):
        print(f"| {d}{'' if d == 'other' else '='} | {n} |")
    print()
    print("| converted units that lose a socket setting, by directive | units |")
    print("|---|---|")
    for d, n in lost.most_common() or [("(none)", 0)]:
        print(f"| {d}{'' if d == '(none)' else '='} | {n} |")
    print()
    bad = [r for r in conv if not r.get("converged")]
    if bad:
        print("| converted, not applied or not converged | why |")
        print("|---|---|")
        for r in bad:
            why = r.get("error", "").strip().splitlines()
            why = re.sub(r"^.*?fatal: \S+: ", "", why[-1] if why else "?")
            print(f"| {os.path.basename(r['path'])} | {why} |")
        print()
    users = sum(1 for r in conv if r["user"])
    print(f"Files found: {len(files)}; not downloadable or dangling: {len(unavailable)}; "
          f"user-manager units among the converted: {users} (their specifiers are the "
          f"system manager's).")
    for r in bad:
        print(f"\nNOT CONVERGED {r['package']} {r['path']}:\n{r.get('error', '')}",
              file=sys.stderr)
    if a.details:
        with open(a.details, "w") as f:
            json.dump(rows, f, indent=1)
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main())
