"""Build the directory ``gcloud functions deploy --source`` uploads for Cloud Functions (gen2).

Cloud Functions builds one directory, with ``main.py`` and ``requirements.txt`` at its top. The
gateway's code lives in ``shared/`` at the repository root and the root ``main.py`` is the local door,
so the function gets a directory of its own, made of copies:

    build/gcp/main.py            <- functions/gcp/main.py (the entry point ``gateway``)
    build/gcp/shared/            <- shared/
    build/gcp/requirements.txt   <- requirements.txt + functions/gcp/requirements.txt
    build/gcp/api.yaml           <- api.yaml, when there is one at the repository root

Usage: ``python functions/gcp/bundle.py [OUT_DIR]`` (default ``build/gcp``); prints the directory.
Standard library only, so it runs before anything is installed.
"""

from __future__ import annotations

import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MARKER = ".gateway-bundle"  # only a directory carrying this file is ever deleted and rebuilt
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc")


def bundle(out: str) -> str:
    out = os.path.abspath(out)
    if os.path.exists(out):
        if os.listdir(out) and not os.path.exists(os.path.join(out, MARKER)):
            raise SystemExit(f"{out} exists and was not made by this script; choose another directory")
        shutil.rmtree(out)
    os.makedirs(out)
    shutil.copy2(os.path.join(HERE, "main.py"), os.path.join(out, "main.py"))
    shutil.copytree(os.path.join(ROOT, "shared"), os.path.join(out, "shared"), ignore=IGNORE)
    if os.path.isfile(os.path.join(ROOT, "api.yaml")):
        shutil.copy2(os.path.join(ROOT, "api.yaml"), os.path.join(out, "api.yaml"))
    with open(os.path.join(out, "requirements.txt"), "w") as fh:
        for name in (os.path.join(ROOT, "requirements.txt"), os.path.join(HERE, "requirements.txt")):
            with open(name) as src:
                fh.write(f"# --- from {os.path.relpath(name, ROOT)}\n{src.read().rstrip()}\n")
    with open(os.path.join(out, ".gcloudignore"), "w") as fh:
        fh.write(f"{MARKER}\n__pycache__/\n*.pyc\n")
    with open(os.path.join(out, MARKER), "w") as fh:
        fh.write("built by functions/gcp/bundle.py; safe to delete\n")
    return out


if __name__ == "__main__":
    print(bundle(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "gcp")))
