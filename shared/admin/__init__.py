"""The admin API and panel under ``/admin/`` (and the panel's page at ``GET /``).

Imported only when an admin path is requested (``app.py`` imports :mod:`.router` lazily), so the
API hot path and a serverless cold start never load any of it.
"""
