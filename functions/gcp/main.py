"""Google Cloud Functions (gen2) door: the entry point ``gateway`` for functions-framework's ASGI mode.

``@functions_framework.aio.http`` makes functions-framework serve this function with Starlette under
uvicorn. The function hands every request to the gateway's ASGI app: the Starlette route calls the
returned object as ``response(scope, receive, send)``, so the app sees the original path, reads the
body itself and streams its answer through (Cloud Functions gen2 delivers it chunk by chunk).

Cloud Functions uploads one directory with ``main.py`` at its top; ``python functions/gcp/bundle.py``
builds that directory (this file, ``shared/`` and a requirements.txt), see README "Deploy".
"""

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
if not os.path.isdir(os.path.join(_HERE, "shared")):  # run from the repository, not from the bundle
    sys.path.insert(0, os.path.dirname(os.path.dirname(_HERE)))

import functions_framework.aio  # noqa: E402

from shared.app import app  # noqa: E402


@functions_framework.aio.http
async def gateway(request):
    """Answer with the gateway app itself: it is an ASGI callable, as a Starlette response is."""
    return app
