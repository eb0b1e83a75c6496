"""Vercel door: the gateway's ASGI app as ``app``, the file ``vercel.json`` routes every path to.

Vercel may call it with the client's path or with the rewritten ``/api/index?path=…``;
:class:`~shared.vercel_paths.VercelPaths` makes both reach the same route.
"""

from shared.app import app as gateway_app
from shared.vercel_paths import VercelPaths

app = VercelPaths(gateway_app)
