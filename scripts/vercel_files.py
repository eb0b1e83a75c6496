"""What ``vercel deploy`` would upload from a directory, and which of those files Vercel would serve statically.

Two rules decide whether a file can leak:

* Upload: the Vercel CLI sends every file not excluded by its built-in ignore list and ``.vercelignore``
  (gitignore syntax; ``/*`` then ``!name`` lines make an allow-list). It does not read ``.gitignore``, so a
  local ``api.yaml`` is uploaded unless ``.vercelignore`` keeps it out.
* Serve: in a project without a framework or build command, if any uploaded file lies in the output
  directory (``outputDirectory`` in vercel.json, default ``public``) only that directory is served;
  otherwise every uploaded file outside ``api/`` is served at its own path, ahead of the rewrites.

This mirrors Vercel's CLI (``getVercelIgnore`` in packages/client) and ``detectBuilders`` (packages/
fs-detectors) for the cases this repository uses. Standard library only.

Usage: ``python scripts/vercel_files.py [DIR]`` lists the files uploaded from DIR (default: the repository)
and the URL path of each one served statically.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The CLI's own ignore list, applied before .vercelignore.
DEFAULT_IGNORES = [".hg", ".git", ".gitmodules", ".svn", ".cache", ".next", ".now", ".vercel", ".npmignore",
                   ".dockerignore", ".gitignore", ".*.swp", ".DS_Store", ".wafpicke-*", ".lock-wscript", ".env.local",
                   ".env.*.local", ".venv", ".yarn/cache", ".pnp*", "npm-debug.log", "config.gypi", "node_modules",
                   "__pycache__", "venv", "CVS"]

FUNCTION_SOURCE = re.compile(r"^api/.+\.(py|js|mjs|ts|tsx|go|rb)$")  # zero-config function entry points


@dataclass(frozen=True)
class Rule:
    pattern: re.Pattern[str]
    negate: bool
    dir_only: bool


def _glob_to_regex(glob: str) -> str:
    out, i = "", 0
    while i < len(glob):
        if glob.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif glob.startswith("/**", i) and i + 3 == len(glob):
            out, i = out + "/.*", i + 3
        elif glob[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif glob[i] == "?":
            out, i = out + "[^/]", i + 1
        elif glob[i] == "[" and "]" in glob[i + 1:]:
            end = glob.index("]", i + 1)
            body = glob[i + 1:end]
            out, i = out + "[" + ("^" + body[1:] if body.startswith("!") else body) + "]", end + 1
        else:
            out, i = out + re.escape(glob[i]), i + 1
    return out


def parse_rules(text: str) -> list[Rule]:
    """gitignore lines as rules; a later matching rule overrides an earlier one."""
    rules = []
    for line in text.splitlines():
        line = line.rstrip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        line = line[1:] if negate else line
        line = line.removeprefix("./")  # the CLI strips a leading ./
        dir_only = line.endswith("/")
        line = line.rstrip("/")
        anchored = "/" in line  # a slash at the start or in the middle ties the pattern to the root
        body = _glob_to_regex(line.lstrip("/"))
        rules.append(Rule(re.compile(("^" if anchored else "^(?:.*/)?") + body + "$"), negate, dir_only))
    return rules


def is_ignored(rules: list[Rule], path: str, is_dir: bool) -> bool:
    ignored = False
    for rule in rules:
        if (is_dir or not rule.dir_only) and rule.pattern.match(path):
            ignored = not rule.negate
    return ignored


def uploaded_files(root: str) -> list[str]:
    """Paths (relative, with /) the CLI uploads from ``root``. An excluded directory is not entered, so
    nothing below it can be re-included (as in git)."""
    text = "\n".join(DEFAULT_IGNORES)
    ignore_file = os.path.join(root, ".vercelignore")
    if os.path.isfile(ignore_file):
        with open(ignore_file) as fh:
            text += "\n" + fh.read()
    rules = parse_rules(text)
    found = []
    for folder, dirs, files in os.walk(root):
        rel = os.path.relpath(folder, root).replace(os.sep, "/")
        prefix = "" if rel == "." else rel + "/"
        dirs[:] = sorted(d for d in dirs if not is_ignored(rules, prefix + d, True))
        found += [prefix + f for f in sorted(files) if not is_ignored(rules, prefix + f, False)]
    return found


def static_routes(files: list[str], vercel: dict[str, Any]) -> dict[str, str]:
    """URL path -> uploaded file, for what Vercel serves statically (zero-config project, no build step)."""
    if vercel.get("framework") or vercel.get("buildCommand"):
        raise NotImplementedError("a framework or build command project: its build decides what is served")
    output = vercel.get("outputDirectory") or "public"
    in_output = [f for f in files if f.startswith(output + "/")]
    if in_output:
        return {"/" + f[len(output) + 1:]: f for f in in_output}
    functions = [f for f in files if FUNCTION_SOURCE.match(f) and "/." not in f and "/_" not in f]
    others = [f for f in files if not f.startswith("api/") and f != "package.json"
              and not re.fullmatch(r"middleware\.[jt]s", f)]
    if functions and others:
        return {"/" + f: f for f in others}
    return {}


def main(argv: list[str]) -> int:
    root = os.path.abspath(argv[1] if len(argv) > 1 else ROOT)
    with open(os.path.join(root, "vercel.json")) as fh:
        vercel = json.load(fh)
    files = uploaded_files(root)
    served = {f: url for url, f in static_routes(files, vercel).items()}
    for name in files:
        print(name + (f"    served at {served[name]}" if name in served else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
