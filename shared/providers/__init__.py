"""Provider adapters: one module (or package) per wire format, imported only when a channel uses it.

Adding a provider = adding ``shared/providers/<engine>.py`` (or an ``<engine>/`` package) that
exposes ``adapter`` (a :class:`.base.BaseAdapter`), and one entry in :data:`ENGINES` below. The
entry is all the rest of the gateway knows about an engine: its module, the ``engine:`` aliases
the config accepts, and how it is recognised when ``engine`` is not given (config.md's detection
rules: hosts, path endings, provider fields; never model names). Detection tries the entries in
order, and ``openai`` (OpenAI-compatible) is the fallback.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from .base import BaseAdapter


@dataclass(frozen=True)
class Engine:
    module: str
    aliases: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()  # exact host names
    host_suffixes: tuple[str, ...] = ()
    path_suffixes: tuple[str, ...] = ()  # base_url path endings
    fields: tuple[str, ...] = ()  # provider fields whose presence selects this engine
    host_patterns: tuple[str, ...] = ()  # shell-style host patterns, e.g. ``bedrock-runtime.*.amazonaws.com``

    def matches(self, provider: Any, host: str, path: str) -> bool:
        return (any(getattr(provider, name, None) for name in self.fields)
                or host in self.hosts
                or any(host.endswith(s) for s in self.host_suffixes)
                or any(path.endswith(s) for s in self.path_suffixes)
                or any(fnmatchcase(host, p) for p in self.host_patterns))


FALLBACK = "openai"
ENGINES: dict[str, Engine] = {
    "gemini": Engine("shared.providers.gemini", hosts=("generativelanguage.googleapis.com",), path_suffixes=("/v1beta",)),
    "vertex": Engine("shared.providers.vertex", fields=("project_id",), host_suffixes=("aiplatform.googleapis.com",)),
    # Only Bedrock's runtime hosts: a bare ``amazonaws.com`` suffix would also catch OpenAI-compatible
    # servers behind API Gateway or a load balancer (``*.execute-api.…``, ``*.elb.amazonaws.com``).
    "bedrock": Engine("shared.providers.bedrock", aliases=("aws",), fields=("aws_access_key",),
                      host_patterns=("bedrock-runtime.*.amazonaws.com", "bedrock-runtime-fips.*.amazonaws.com",
                                     "bedrock-runtime.*.amazonaws.com.cn")),
    "azure": Engine("shared.providers.azure", host_suffixes=("azure.com",)),
    "cloudflare": Engine("shared.providers.cloudflare", fields=("cf_account_id",), hosts=("api.cloudflare.com",)),
    "anthropic": Engine("shared.providers.anthropic", aliases=("claude",), hosts=("api.anthropic.com",), path_suffixes=("/v1/messages",)),
    "openrouter": Engine("shared.providers.openrouter", hosts=("openrouter.ai",)),
    "azure-databricks": Engine("shared.providers.databricks", aliases=("databricks",), host_suffixes=("azuredatabricks.net",)),
    "mock": Engine("shared.providers.mock"),  # only with ``engine: mock``: never detected
    "openai": Engine("shared.providers.openai", aliases=("gpt",)),
}

ENGINE_ALIASES: dict[str, str] = {alias: name for name, engine in ENGINES.items() for alias in (name, *engine.aliases)}


def detect_engine(provider: Any) -> str:
    """The provider's engine: ``engine`` when given, else the first registry entry that matches."""
    if provider.engine:
        return str(provider.engine)
    parts = urlsplit(provider.base_url or "")
    host, path = (parts.hostname or "").lower(), parts.path.rstrip("/")
    for name, engine in ENGINES.items():
        if name != FALLBACK and engine.matches(provider, host, path):
            return name
    return FALLBACK


_loaded: dict[str, BaseAdapter] = {}


def get_adapter(engine: str) -> BaseAdapter:
    adapter = _loaded.get(engine)
    if adapter is None:
        try:
            module_name = ENGINES[engine].module
        except KeyError:
            raise LookupError(f"engine {engine!r} is not available in this build") from None
        adapter = _loaded[engine] = importlib.import_module(module_name).adapter
    return adapter
