"""Where the config comes from, ``${NAME}`` expansion, and readable validation errors.

Sources, first present wins: ``CONFIG_YAML`` (text in an env var), ``CONFIG_PATH`` (or ``./api.yaml``
when that file exists), ``CONFIG_URL`` (fetched once per instance). With none of them the gateway
runs with an empty provider list and every model request answers 404 with a hint.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..settings import Settings
from .schema import GatewayConfig

log = logging.getLogger("gateway")

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}")


class ConfigError(Exception):
    """A config problem; the message names the source, the field path and what was expected.

    ``errors`` holds the same as ``(path, message)`` pairs, without the source (the admin API
    answers them field by field); a problem with no one field has the path ``""``.
    """

    def __init__(self, message: str, errors: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors if errors is not None else [("", message)]


def _path(loc: tuple[Any, ...] | list[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _expand(node: Any, env: Mapping[str, str], loc: list[Any], used: set[str] | None = None) -> Any:
    """Replace ``${NAME}`` / ``${NAME:-default}`` in every string of the tree.

    Values taken from the environment are added to ``used`` so error messages can redact them.
    """
    if isinstance(node, str):
        def sub(match: re.Match[str]) -> str:
            name, default = match[1], match[2]
            value = env.get(name)
            # Shell semantics: ``${NAME:-default}`` also applies the default when NAME is set but empty
            # (platform dashboards often keep empty variables around).
            if value or (value is not None and default is None):
                if used is not None:
                    used.add(value)
                return value
            if default is not None:
                return default
            raise ConfigError(f"{_path(loc)}: environment variable {name} is not set (write ${{{name}:-default}} to give a default)")
        return _VAR.sub(sub, node)
    if isinstance(node, list):
        return [_expand(item, env, loc + [i], used) for i, item in enumerate(node)]
    if isinstance(node, dict):
        return {key: _expand(value, env, loc + [key], used) for key, value in node.items()}
    return node


_SECRET_FIELDS = {"api", "private_key", "headers"}


def _secrets(node: Any, out: set[str], inside: bool = False) -> set[str]:
    """Every string under a secret-bearing field (provider and gateway keys, private keys, headers)."""
    if isinstance(node, str):
        if inside:
            out.add(node)
    elif isinstance(node, list):
        for item in node:
            _secrets(item, out, inside)
    elif isinstance(node, dict):
        for key, value in node.items():
            _secrets(value, out, inside or key in _SECRET_FIELDS)
    return out


def _redact(message: str, secrets: set[str]) -> str:
    """Validators may quote a value (a limit string, an engine name); a secret pasted into the wrong
    field must still never reach a message. Very short values are left alone (they would mangle words)."""
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= 6 and secret in message:
            message = message.replace(secret, "***")
    return message


def _expected_fields(loc: tuple[Any, ...]) -> list[str]:
    """The field names allowed where an unknown field ``loc[-1]`` was found (empty if unknown)."""
    model: Any = GatewayConfig
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        annotation = field.annotation
        for arg in getattr(annotation, "__args__", ()) or ():  # list[ProviderConfig] and the like
            if hasattr(arg, "model_fields"):
                annotation = arg
        model = annotation
    return list(getattr(model, "model_fields", {}))


# The only values that may span lines: a PEM key, free text, and request-body values (e.g. a "\n" stop sequence).
MULTILINE_FIELDS = {"private_key", "notes", "post_body_parameter_overrides"}


def _line_breaks(node: Any, loc: list[Any]) -> list[str]:
    """Paths of the string values (and map keys) with a CR or LF, outside ``MULTILINE_FIELDS``.

    One such value in a provider key or header makes every request fail at the HTTP layer (or
    worse, injects a header), so it is refused at load with its path instead."""
    if isinstance(node, str):
        return [_path(loc)] if ("\n" in node or "\r" in node) else []
    out: list[str] = []
    if isinstance(node, list):
        for i, item in enumerate(node):
            out += _line_breaks(item, loc + [i])
    elif isinstance(node, dict):
        for key, value in node.items():
            if key in MULTILINE_FIELDS:
                continue
            if isinstance(key, str) and ("\n" in key or "\r" in key):
                out.append(_path(loc + [key.strip()]))
            out += _line_breaks(value, loc + [key])
    return out


def _parse_text(text: str, source: str) -> Any:
    stripped = text.strip()
    if not stripped:
        return {}
    if stripped.startswith("{"):
        try:
            return json.loads(stripped)
        except ValueError:
            pass  # YAML flow style is a superset; let the YAML parser report the error
        except RecursionError:
            raise ConfigError(f"{source}: nested too deeply") from None
    import yaml  # imported here: a JSON config never pays for it

    try:
        return yaml.safe_load(text) or {}
    except RecursionError:  # the parser recurses per level: a few kilobytes of "[[[[" (admin API uploads)
        raise ConfigError(f"{source}: nested too deeply") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        # Only the problem and position: the context snippet could contain a secret.
        raise ConfigError(f"{source}: invalid YAML{where}: {problem}") from None


def parse_config_text(text: str, source: str, env: Mapping[str, str] | None = None) -> GatewayConfig:
    """Parse, expand and validate one config text; raise :class:`ConfigError` on any problem."""
    return parse_config_document(parse_document(text, source), source, env)


def parse_document(text: str, source: str) -> dict[str, Any]:
    """The config text (YAML or JSON) as a mapping, ``${VAR}`` references unexpanded: the form the
    shared store keeps (so a secret referenced from the environment never lands in it)."""
    data = _parse_text(text, source)
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping with 'providers', 'api_keys' and 'preferences' at the top level")
    return data


_WHOLE_CONFIG_PATH = re.compile(r"^([A-Za-z_][\w.\[\]-]*): (.*)$", re.S)


def parse_config_document(data: dict[str, Any], source: str, env: Mapping[str, str] | None = None) -> GatewayConfig:
    """Expand and validate one config mapping (from a file, the environment or the shared store)."""
    from pydantic import ValidationError

    env = os.environ if env is None else env
    used: set[str] = set()
    written = data
    try:
        data = _expand(data, env, [], used)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}", [("", str(exc))]) from None
    except RecursionError:  # every step below walks the document recursively; no real config is this deep
        raise ConfigError(f"{source}: nested too deeply") from None
    breaks = _line_breaks(data, [])
    if breaks:
        why = ("contains a line break (CR or LF); header values, keys and URLs must be one line (a stray newline from a "
               "copied secret is the usual cause)")
        raise ConfigError("\n".join(f"{source}: {path}: {why}" for path in breaks), [(path, why) for path in breaks])
    try:
        config = GatewayConfig.model_validate(data)
        config._document = written
        return config
    except ValidationError as exc:
        secrets = _secrets(data, set(used))
        errors: list[tuple[str, str]] = []
        for err in exc.errors(include_input=False, include_url=False):
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                allowed = _expected_fields(tuple(err["loc"]))
                expected = f"expected one of: {', '.join(allowed)}" if allowed else "check the spelling"
                msg = f"unknown field; {expected} (see the configuration reference in README.md)"
            elif msg.startswith("Value error, "):
                msg = msg[len("Value error, "):]
            msg = _redact(msg, secrets)
            # Whole-config checks (unique names) carry their own path in the message.
            if err["loc"]:
                errors.append((_path(err["loc"]), msg))
            else:
                for line in msg.splitlines():
                    match = _WHOLE_CONFIG_PATH.match(line)
                    errors.append((match.group(1), match.group(2)) if match else ("", line))
        lines = [f"{source}: {path}: {msg}" if path else f"{source}: {msg}" for path, msg in errors]
        raise ConfigError("\n".join(lines), errors) from None


def safe_url(url: str) -> str:
    """The URL without credentials or query string, fit for messages."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.port:
            host += f":{parts.port}"
    except ValueError:  # e.g. an unclosed IPv6 bracket: show nothing of it
        return "(unparsable URL)"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


MAX_REDIRECTS = 5


async def _fetch_config(url: str, source: str) -> Any:
    """GET the config, following at most ``MAX_REDIRECTS`` redirects and only within the same scheme:
    an https URL that redirects to http would hand the provider keys to anyone on the path."""
    import httpx

    scheme = urlsplit(url).scheme
    async with httpx.AsyncClient(timeout=15, follow_redirects=False) as client:
        for _ in range(MAX_REDIRECTS + 1):
            response = await client.get(url)
            if not response.is_redirect:
                return response
            target = response.next_request.url if response.next_request is not None else None
            if target is None or target.scheme != scheme:
                where = f"{target.scheme}://{target.host}" if target is not None else "an unusable location"
                raise ConfigError(f"CONFIG_URL {source}: refused a redirect from {scheme} to {where}; "
                                  "point CONFIG_URL at the final URL")
            url = str(target)
    raise ConfigError(f"CONFIG_URL {source}: more than {MAX_REDIRECTS} redirects")


async def load_config(settings: Settings, env: Mapping[str, str] | None = None) -> tuple[GatewayConfig, str]:
    """Load the config from the first source present; returns ``(config, source description)``."""
    config, source, _ = await load_config_document(settings, env)
    return config, source


async def load_config_document(settings: Settings, env: Mapping[str, str] | None = None
                               ) -> tuple[GatewayConfig, str, dict[str, Any] | None]:
    """The config of the first source present, its description, and its mapping as written
    (``None`` when no source is present: then the config is empty)."""
    env = os.environ if env is None else env
    text, source = await read_config_text(settings)
    if text is None:
        return GatewayConfig(), "none", None
    document = parse_document(text, source)
    return parse_config_document(document, source, env), source, document


async def read_config_text(settings: Settings) -> tuple[str | None, str]:
    """The config text of the first source present (CONFIG_YAML, CONFIG_PATH or ./api.yaml,
    CONFIG_URL) and its description; ``(None, "none")`` when there is none."""
    if settings.config_yaml:
        return settings.config_yaml, "CONFIG_YAML"
    path = settings.config_path or ("api.yaml" if os.path.exists("api.yaml") else None)
    if path:
        try:
            with open(path, encoding="utf-8") as fh:
                return fh.read(), path
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the config file ({exc.strerror})") from None
    if settings.config_url:
        import httpx

        source = safe_url(settings.config_url)
        try:
            valid = urlsplit(settings.config_url).scheme in ("http", "https") and bool(urlsplit(settings.config_url).hostname)
        except ValueError:
            valid = False
        if not valid:
            raise ConfigError(f"CONFIG_URL {source}: expected an http:// or https:// URL")
        if urlsplit(settings.config_url).scheme == "http":
            log.warning("CONFIG_URL %s is plain http: the config (provider keys included) travels unencrypted; use https", source)
        try:
            response = await _fetch_config(settings.config_url, source)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            # Only the exception type: httpx's own text may repeat the full URL (query string included).
            why = ("timed out" if isinstance(exc, httpx.TimeoutException)
                   else "could not connect" if isinstance(exc, httpx.ConnectError) else type(exc).__name__)
            raise ConfigError(f"CONFIG_URL {source}: fetch failed ({why})") from None
        if response.status_code != 200:
            raise ConfigError(f"CONFIG_URL {source}: fetch failed with HTTP {response.status_code}")
        return response.text, f"CONFIG_URL {source}"
    return None, "none"
