"""Gateway configs as Python values: the dicts an ``api.yaml`` parses to, built in one call each.

Why not YAML text in every test: the same provider block was copied into some sixty tests, so a
renamed field or a new required one meant sixty edits, and a typo in an f-string only showed up as
a parse error. A builder returns the plain ``{"providers": [...], "api_keys": [...],
"preferences": {...}}`` dict; ``gateway_factory`` (or ``json.dumps`` for a process's
``CONFIG_YAML``) sends it through the gateway's own parser, so validation is exactly as for a file.

Only the tests that are about the text itself (YAML syntax, ``${NAME}`` expansion, error messages
naming fields and lines, config sources) keep writing YAML.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence

UPSTREAM_KEY = "sk-upstream-key-1"  # the key a FakeOpenAI accepts unless told otherwise
CHAT_COMPLETIONS = "/v1/chat/completions"  # the full-endpoint spelling of an OpenAI base_url

Config = dict[str, Any]
Model = str | dict[str, str]  # "gpt-4o", or {upstream_name: alias}
Rule = str | dict[str, int]  # "a/*", or {"a/*": weight}


class Served(Protocol):
    """Anything listening somewhere: every fake upstream has a ``url`` such as http://127.0.0.1:5000."""

    @property
    def url(self) -> str: ...


def provider(name: str, upstream: Served | str | None = None, *, path: str = "/v1",
             api: str | list[str] | None = UPSTREAM_KEY, models: list[Model] | None = None,
             preferences: dict[str, Any] | None = None, **fields: Any) -> Config:
    """One ``providers:`` entry.

    ``base_url`` is the upstream's URL (a fake, or a URL string) followed by ``path``; no upstream
    means no ``base_url`` at all. ``models=None`` leaves ``model`` out, so the gateway discovers the
    models from the upstream; ``api=None`` leaves the key out (Vertex signs with a service account).
    Any other field (``engine``, ``tools``, ``region``...) is passed through under its own name.
    """
    entry: Config = {"provider": name}
    if upstream is not None:
        root = upstream if isinstance(upstream, str) else upstream.url
        entry["base_url"] = root + path
    if api is not None:
        entry["api"] = api
    if models is not None:
        entry["model"] = models
    entry.update(fields)
    if preferences:
        entry["preferences"] = preferences
    return entry


def gateway_key(api: str, models: list[Rule] | None = None, *, role: str | None = None, **preferences: Any) -> Config:
    """One ``api_keys:`` entry: a key clients present to the gateway, its model rules (all models when
    None), and its preferences under their own names (``RATE_LIMIT="3/min"``, ``AUTO_RETRY=2``)."""
    entry: Config = {"api": api}
    if role is not None:
        entry["role"] = role
    if models is not None:
        entry["model"] = models
    if preferences:
        entry["preferences"] = preferences
    return entry


def config(*providers: Config, keys: Sequence[Config] = (), **preferences: Any) -> Config:
    """A whole config: providers in order, gateway keys in order (no keys: no ``api_keys`` section,
    which the gateway reads as empty), and the global preferences under their own names
    (``cooldown_period=60``, ``rate_limit="2/min"``)."""
    out: Config = {"providers": list(providers)}
    if keys:
        out["api_keys"] = list(keys)
    if preferences:
        out["preferences"] = preferences
    return out
