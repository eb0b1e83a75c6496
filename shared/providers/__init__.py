"""Provider adapters: one module (or package) per wire format, imported only when a channel uses it.

Adding a provider = adding ``shared/providers/<engine>.py`` (or an ``<engine>/`` package) exposing
``adapter`` (see ``base.Adapter``) and one line in ``ENGINES``.
"""

from __future__ import annotations

import importlib

from .base import Adapter

ENGINES: dict[str, str] = {
    "openai": "shared.providers.openai",
    "azure": "shared.providers.azure",
    "openrouter": "shared.providers.openrouter",
    "cloudflare": "shared.providers.cloudflare",
    "anthropic": "shared.providers.anthropic",
    "gemini": "shared.providers.gemini",
    "vertex": "shared.providers.vertex",
}

_loaded: dict[str, Adapter] = {}


def get_adapter(engine: str) -> Adapter:
    adapter = _loaded.get(engine)
    if adapter is None:
        try:
            module_name = ENGINES[engine]
        except KeyError:
            raise LookupError(f"engine {engine!r} is not available in this build") from None
        adapter = _loaded[engine] = importlib.import_module(module_name).adapter
    return adapter
