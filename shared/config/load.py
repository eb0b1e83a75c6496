"""Where the config comes from, ``${NAME}`` expansion, and readable validation errors.

Sources, first present wins: ``CONFIG_YAML`` (text in an env var), ``CONFIG_PATH`` (or ``./api.yaml``
when that file exists), ``CONFIG_URL`` (fetched once per instance). With none of them the gateway
runs with an empty provider list and every model request answers 404 with a hint.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any, Mapping
from urllib.parse import urlsplit, urlunsplit

from ..settings import Settings
from .schema import GatewayConfig

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}")


class ConfigError(Exception):
    """A config problem; the message names the source, the field path and what was expected."""


def _path(loc: tuple[Any, ...] | list[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _expand(node: Any, env: Mapping[str, str], loc: list[Any]) -> Any:
    """Replace ``${NAME}`` / ``${NAME:-default}`` in every string of the tree."""
    if isinstance(node, str):
        def sub(match: re.Match[str]) -> str:
            name, default = match[1], match[2]
            if name in env:
                return env[name]
            if default is not None:
                return default
            raise ConfigError(f"{_path(loc)}: environment variable {name} is not set (write ${{{name}:-default}} to give a default)")
        return _VAR.sub(sub, node)
    if isinstance(node, list):
        return [_expand(item, env, loc + [i]) for i, item in enumerate(node)]
    if isinstance(node, dict):
        return {key: _expand(value, env, loc + [key]) for key, value in node.items()}
    return node


def _parse_text(text: str, source: str) -> Any:
    stripped = text.strip()
    if not stripped:
        return {}
    if stripped.startswith("{"):
        try:
            return json.loads(stripped)
        except ValueError:
            pass  # YAML flow style is a superset; let the YAML parser report the error
    import yaml  # imported here: a JSON config never pays for it

    try:
        return yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        # Only the problem and position: the context snippet could contain a secret.
        raise ConfigError(f"{source}: invalid YAML{where}: {problem}") from None


def parse_config_text(text: str, source: str, env: Mapping[str, str] | None = None) -> GatewayConfig:
    """Parse, expand and validate one config text; raise :class:`ConfigError` on any problem."""
    from pydantic import ValidationError

    env = os.environ if env is None else env
    data = _parse_text(text, source)
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping with 'providers', 'api_keys' and 'preferences' at the top level")
    try:
        data = _expand(data, env, [])
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    try:
        return GatewayConfig.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors(include_input=False, include_url=False):
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                msg = "unknown field (check the spelling; see the configuration reference in README.md)"
            elif msg.startswith("Value error, "):
                msg = msg[len("Value error, "):]
            lines.append(f"{source}: {_path(err['loc'])}: {msg}")
        raise ConfigError("\n".join(lines)) from None


def safe_url(url: str) -> str:
    """The URL without credentials or query string, fit for messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


async def load_config(settings: Settings, env: Mapping[str, str] | None = None) -> tuple[GatewayConfig, str]:
    """Load the config from the first source present; returns ``(config, source description)``."""
    env = os.environ if env is None else env
    if settings.config_yaml:
        return parse_config_text(settings.config_yaml, "CONFIG_YAML", env), "CONFIG_YAML"
    path = settings.config_path or ("api.yaml" if os.path.exists("api.yaml") else None)
    if path:
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the config file ({exc.strerror})") from None
        return parse_config_text(text, path, env), path
    if settings.config_url:
        import httpx

        source = safe_url(settings.config_url)
        try:
            async with httpx.AsyncClient(timeout=15, follow_redirects=True) as client:
                response = await client.get(settings.config_url)
        except httpx.HTTPError as exc:
            raise ConfigError(f"CONFIG_URL {source}: fetch failed ({type(exc).__name__})") from None
        if response.status_code != 200:
            raise ConfigError(f"CONFIG_URL {source}: fetch failed with HTTP {response.status_code}")
        return parse_config_text(response.text, f"CONFIG_URL {source}", env), f"CONFIG_URL {source}"
    return GatewayConfig(), "none"
