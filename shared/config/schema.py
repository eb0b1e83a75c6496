"""Pydantic models of ``api.yaml``.

Validation is strict: unknown keys are errors (a typo in a preference must not be silently
ignored), union-typed fields are checked by small validators so that error messages say what was
expected in words rather than listing pydantic's union branches.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from .. import filters
from ..providers import ENGINE_ALIASES
from ..ratelimit import Window, parse_limits


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _limits(value: Any, tokens_per_request: bool = False) -> LimitSpec:
    """A limit string, or a ``{model: limit, default: limit}`` map; returned parsed."""
    if value is None:
        return None
    if isinstance(value, dict):
        if not value:
            raise ValueError("expected a limit string or a non-empty {model: limit} map")
        parsed = {}
        for model, text in value.items():
            try:
                parsed[str(model)] = parse_limits(text, tokens_per_request)
            except ValueError as exc:
                raise ValueError(f"limit for {model!r}: {exc}") from None
        return parsed
    return parse_limits(value, tokens_per_request)


PROXY_SCHEMES = ("http", "https", "socks4", "socks5", "socks5h")


def _proxy(value: Any) -> str | None:
    """A proxy URL such as ``socks5://user:pass@host:1080`` or ``http://host:3128``; empty means none."""
    if value is None or value == "":
        return None
    # Only the scheme and a host part are checked: uni-api's README placeholder
    # (socks5://[username]:[password]@[ip]:[port]) must load; such a URL fails as a connection error.
    scheme, _, rest = str(value).partition("://") if isinstance(value, str) else ("", "", "")
    if scheme.lower() not in PROXY_SCHEMES or not rest.split("/", 1)[0].rpartition("@")[2]:
        raise ValueError(f"expected a proxy URL such as socks5://user:password@host:1080 or http://host:3128 "
                         f"(schemes: {', '.join(PROXY_SCHEMES)})")
    return str(value)


def _timeouts(value: Any) -> dict[str, float]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError("expected a map of {model_prefix: seconds, default: seconds}")
    out = {}
    for prefix, seconds in value.items():
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0:
            raise ValueError(f"timeout for {prefix!r}: expected a positive number of seconds")
        out[str(prefix)] = float(seconds)
    return out


LimitSpec = tuple[Window, ...] | dict[str, tuple[Window, ...]] | None


class _RequestFilters(_Strict):
    """uni-api's request filters; allowed on a provider and in its ``preferences`` (see ``shared/filters.py``)."""

    exclude_endpoints: Any = ()
    only_request_types: Any = ()
    exclude_request_types: Any = ()
    exclude_request_rules: Any = ()
    max_request_body_bytes: int | None = None

    @field_validator("exclude_endpoints", mode="before")
    @classmethod
    def _endpoints(cls, value: Any) -> tuple[str, ...]:
        return filters.endpoints(value)

    @field_validator("only_request_types", "exclude_request_types", mode="before")
    @classmethod
    def _types(cls, value: Any) -> tuple[str, ...]:
        return filters.request_types(value)

    @field_validator("exclude_request_rules", mode="before")
    @classmethod
    def _rules(cls, value: Any) -> tuple[filters.Rule, ...]:
        return filters.rules(value)

    @field_validator("max_request_body_bytes", mode="before")
    @classmethod
    def _bytes(cls, value: Any) -> int | None:
        return None if value is None else filters.parse_bytes(value)


class _Network(_Strict):
    """``proxy`` and ``keepalive_interval``: the same two settings globally and per provider (the
    provider's win)."""

    proxy: str | None = None  # upstream calls go through it
    keepalive_interval: Any = None  # {model_prefix: seconds, default: seconds}: SSE comments while a stream waits

    @field_validator("keepalive_interval", mode="before")
    @classmethod
    def _keepalive(cls, value: Any) -> dict[str, float]:
        return _timeouts({"default": value} if isinstance(value, (int, float)) and not isinstance(value, bool) else value)

    @field_validator("proxy", mode="before")
    @classmethod
    def _proxy_url(cls, value: Any) -> str | None:
        return _proxy(value)


class ProviderPreferences(_RequestFilters, _Network):
    api_key_rate_limit: Any = None
    api_key_cooldown_period: float = Field(default=0, ge=0)
    api_key_rate_limit_cooldown_period: float | None = Field(default=None, ge=0)  # after a 429; else api_key_cooldown_period
    api_key_quota_cooldown_period: float | None = Field(default=None, ge=0)  # after an out-of-quota answer
    api_key_schedule_algorithm: Literal["round_robin", "random", "fixed_priority", "smart_round_robin"] = "round_robin"
    model_timeout: Any = None
    cooldown_period: float | None = Field(default=None, ge=0)
    headers: dict[str, str] = Field(default_factory=dict)
    post_body_parameter_overrides: dict[str, Any] = Field(default_factory=dict)
    # POST /v1/responses: passed through to the upstream's own Responses API, or translated to chat.
    # Unset: passthrough for api.openai.com and Azure's /openai/v1 form, translation elsewhere.
    responses_api: Literal["passthrough", "translate"] | None = None

    @field_validator("api_key_rate_limit", mode="before")
    @classmethod
    def _key_limits(cls, value: Any) -> Any:
        return _limits(value, tokens_per_request=True)

    @field_validator("model_timeout", mode="before")
    @classmethod
    def _model_timeout(cls, value: Any) -> dict[str, float]:
        return _timeouts(value)


class ProviderConfig(_RequestFilters):
    provider: str = Field(min_length=1)
    base_url: str | None = None
    api: Any = ()
    model: Any = None
    tools: bool = True
    engine: str | None = None
    project_id: Any = None  # a project id; Vertex AI express mode: a list, one project per key of ``api``
    private_key: str | None = None
    client_email: str | None = None
    region: str | None = None
    # Vertex AI: the OAuth2 token endpoint of the service account (its key file's ``token_uri``);
    # Google's by default. Set it only for a private token endpoint or a test fake.
    token_uri: str | None = None
    cf_account_id: str | None = None
    # AWS Bedrock: one key pair, or lists of equal length (one credential per pair); none = the
    # environment's (a Lambda function's IAM role). Checked by the Bedrock adapter's ``validate``.
    aws_access_key: Any = None
    aws_secret_key: Any = None
    aws_session_token: Any = None
    notes: Any = None
    preferences: ProviderPreferences = Field(default_factory=ProviderPreferences)

    @field_validator("api", mode="before")
    @classmethod
    def _api(cls, value: Any) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(k, str) and k for k in value):
            raise ValueError("expected a provider key string or a list of non-empty key strings")
        return tuple(value)

    @field_validator("model", mode="before")
    @classmethod
    def _model(cls, value: Any) -> tuple[tuple[str, str], ...] | None:
        """Each entry becomes ``(upstream_name, alias)``."""
        if value is None:
            return None
        if not isinstance(value, list):
            raise ValueError("expected a list of model names or {upstream_name: alias} maps")
        out = []
        for i, item in enumerate(value):
            if isinstance(item, (str, int, float)) and not isinstance(item, bool):
                out.append((str(item), str(item)))
            elif isinstance(item, dict) and len(item) == 1:
                upstream, alias = next(iter(item.items()))
                if not isinstance(alias, (str, int, float)) or isinstance(alias, bool):
                    raise ValueError(f"entry {i}: the alias of {upstream!r} must be a string")
                out.append((str(upstream), str(alias)))
            else:
                raise ValueError(f"entry {i}: expected a model name or a one-entry {{upstream_name: alias}} map")
        return tuple(out)

    @field_validator("project_id", mode="before")
    @classmethod
    def _project(cls, value: Any) -> str | tuple[str, ...] | None:
        if value is None or (isinstance(value, str) and value):
            return value
        if isinstance(value, list) and value and all(isinstance(p, str) and p for p in value):
            return tuple(value)
        raise ValueError("expected a project id, or a list of project ids (one per key of 'api', Vertex AI express mode)")

    @field_validator("engine", mode="before")
    @classmethod
    def _engine(cls, value: Any) -> str | None:
        if value is None:
            return None
        engine = ENGINE_ALIASES.get(str(value).lower())
        if engine is None:
            raise ValueError(f"unknown engine {value!r}; expected one of {', '.join(sorted(ENGINE_ALIASES))}")
        return engine


class KeyPreferences(_Strict):
    SCHEDULING_ALGORITHM: Literal["fixed_priority", "round_robin", "weighted_round_robin", "lottery", "random",
                                  "smart_round_robin"] = "fixed_priority"  # smart_round_robin: as weighted_round_robin (uni-api)
    AUTO_RETRY: Any = True
    RATE_LIMIT: Any = None
    ENABLE_MODERATION: bool = False
    credits: float | None = Field(default=None, ge=0)  # dollars the key may spend (model_price); 0 blocks it
    created_at: dt.datetime | dt.date | None = None  # spend is counted from here; a new value starts a new count

    @model_validator(mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        """Accept ``rate_limit`` as well as ``RATE_LIMIT`` (and likewise for the other keys)."""
        if not isinstance(value, dict):
            return value
        out: dict[str, Any] = {}
        spelled: dict[str, Any] = {}
        for key, item in value.items():
            name = str(key).upper() if str(key).upper() in cls.model_fields else key
            if name in out:
                raise ValueError(f"{spelled[name]!r} and {key!r} are the same setting; give only one of them")
            out[name] = item
            spelled[name] = key
        return out

    @field_validator("AUTO_RETRY", mode="before")
    @classmethod
    def _retry(cls, value: Any) -> bool | int:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value >= 1:
            return value
        raise ValueError("expected true, false or a positive number of attempts")

    @field_validator("RATE_LIMIT", mode="before")
    @classmethod
    def _rate_limit(cls, value: Any) -> Any:
        return _limits(value)


class ApiKeyConfig(_Strict):
    api: str = Field(min_length=1)
    role: Literal["admin", "user"] = "user"
    name: str | None = Field(default=None, max_length=100)  # a label for people (admin panel, usage); not uni-api's
    model: Any = None
    preferences: KeyPreferences = Field(default_factory=KeyPreferences)

    @field_validator("model", mode="before")
    @classmethod
    def _rules(cls, value: Any) -> tuple[tuple[str, int], ...] | None:
        """Each rule becomes ``(rule, weight)``; weight 1 when not given."""
        if value is None:
            return None
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise ValueError("expected a list of model rules such as 'gpt-4o', 'provider/*' or {'provider/*': 5}")
        out = []
        for i, item in enumerate(value):
            if isinstance(item, str) and item:
                out.append((item, 1))
            elif isinstance(item, dict) and len(item) == 1:
                rule, weight = next(iter(item.items()))
                if isinstance(weight, bool) or not isinstance(weight, int) or weight < 1:
                    raise ValueError(f"entry {i}: the weight of {rule!r} must be a positive integer")
                out.append((str(rule), weight))
            else:
                raise ValueError(f"entry {i}: expected a rule string or a one-entry {{rule: weight}} map")
        return tuple(out)


class GlobalPreferences(_Network):
    model_timeout: Any = None
    request_timeout: float | None = Field(default=None, gt=0)  # every attempt of one request together
    cooldown_period: float = Field(default=300, ge=0)
    rate_limit: Any = None
    error_triggers: list[str] = Field(default_factory=list)
    rate_limit_fail_closed: bool = False
    model_price: Any = Field(default_factory=dict)  # {model_prefix: "in,out", default: "in,out"}: dollars per million tokens

    @field_validator("model_price", mode="before")
    @classmethod
    def _prices(cls, value: Any) -> dict[str, tuple[float, float]]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ValueError("expected a map of {model_prefix: 'input,output', default: 'input,output'} in dollars per million tokens")
        out = {}
        for prefix, price in value.items():
            parts = [p.strip() for p in str(price).split(",")]
            try:
                pair = (float(parts[0]), float(parts[1] if len(parts) > 1 else parts[0]))
            except ValueError:
                pair = (-1.0, -1.0)
            if len(parts) > 2 or isinstance(price, bool) or min(pair) < 0 or not all(math.isfinite(p) for p in pair):
                raise ValueError(f"price of {prefix!r}: expected 'input,output' dollars per million tokens such as '1,2', got {price!r}")
            out[str(prefix)] = pair
        return out

    @model_validator(mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        if isinstance(value, dict) and "RATE_LIMIT" in value:
            if "rate_limit" in value:
                raise ValueError("'RATE_LIMIT' and 'rate_limit' are the same setting; give only one of them")
            value = {("rate_limit" if k == "RATE_LIMIT" else k): v for k, v in value.items()}
        return value

    @field_validator("model_timeout", mode="before")
    @classmethod
    def _model_timeout(cls, value: Any) -> dict[str, float]:
        return _timeouts(value)

    @field_validator("rate_limit", mode="before")
    @classmethod
    def _global_limit(cls, value: Any) -> tuple[Window, ...] | None:
        """One set of windows shared by every caller, so a plain string only."""
        return None if value is None else parse_limits(value)


class GatewayConfig(_Strict):
    providers: list[ProviderConfig] = Field(default_factory=list)
    api_keys: list[ApiKeyConfig] = Field(default_factory=list)
    preferences: GlobalPreferences = Field(default_factory=GlobalPreferences)
    # UniAPI's global model mapping: one unified name -> the model to call at each provider. Compiled as
    # if each provider listed ``{<model>: <unified name>}`` under its ``model``.
    model_mappings: dict[str, dict[str, str]] = Field(default_factory=dict)
    # The mapping this config was read from, as written (``${VAR}`` unexpanded): what the shared store
    # keeps and the admin API edits. Set by the loader; a config built in code has none.
    _document: dict[str, Any] | None = PrivateAttr(default=None)

    @property
    def document(self) -> dict[str, Any] | None:
        return self._document

    @model_validator(mode="before")
    @classmethod
    def _empty_sections(cls, value: Any) -> Any:
        """``api_keys:`` with nothing under it is YAML null: read it as an empty section."""
        if isinstance(value, dict):
            value = {k: v for k, v in value.items()
                     if not (k in ("providers", "api_keys", "preferences", "model_mappings") and v is None)}
        return value

    @model_validator(mode="after")
    def _unique(self) -> GatewayConfig:
        seen: set[str] = set()
        for i, p in enumerate(self.providers):
            if p.provider in seen:
                raise ValueError(f"providers[{i}].provider: the name {p.provider!r} is used twice; provider names must be unique")
            seen.add(p.provider)
        keys: set[str] = set()
        for i, k in enumerate(self.api_keys):
            if k.api in keys:
                raise ValueError(f"api_keys[{i}].api: this key is listed twice")
            keys.add(k.api)
        self._check_engines()
        self._check_key_groups()
        self._check_mappings()
        return self

    def _check_mappings(self) -> None:
        names = {p.provider for p in self.providers}
        for unified, targets in self.model_mappings.items():
            if not unified.strip():
                raise ValueError("model_mappings: a unified model name must not be empty")
            if not targets:
                raise ValueError(f"model_mappings.{unified}: expected at least one provider: model pair")
            for provider, model in targets.items():
                if provider not in names:
                    raise ValueError(f"model_mappings.{unified}.{provider}: no provider is named {provider!r}")
                if not model.strip():
                    raise ValueError(f"model_mappings.{unified}.{provider}: expected the provider's model name")

    def key_groups(self) -> dict[int, list[int]]:
        """``api_keys`` index -> the indices of the other gateway keys its rules use as channel groups
        (``sk-other/*``): a rule whose part before the slash is another key of ``api_keys`` and no provider."""
        providers = {p.provider for p in self.providers}
        index = {k.api: i for i, k in enumerate(self.api_keys)}
        groups: dict[int, list[int]] = {}
        for i, k in enumerate(self.api_keys):
            for rule, _ in k.model or ():
                name = rule.partition("/")[0]
                if "/" in rule and name in index and name not in providers:
                    groups.setdefault(i, []).append(index[name])
        return groups

    def _check_key_groups(self) -> None:
        """A key group must not lead back to itself (the keys are named by index: they are secrets)."""
        groups = self.key_groups()
        done: set[int] = set()

        def visit(i: int, path: list[int]) -> None:
            if i in path:
                cycle = " -> ".join(f"api_keys[{j}]" for j in path[path.index(i):] + [i])
                raise ValueError(f"api_keys[{path[0]}].model: gateway keys used as channel groups form a cycle: {cycle}")
            if i in done:
                return
            for j in groups.get(i, ()):
                visit(j, path + [i])
            done.add(i)

        for i in groups:
            visit(i, [])

    def _check_engines(self) -> None:
        """Each provider's adapter checks the fields its engine needs (e.g. Vertex: ``project_id``)."""
        from ..providers import detect_engine, get_adapter

        problems = [f"providers[{i}].{name}: {what}" for i, p in enumerate(self.providers)
                    for name, what in get_adapter(detect_engine(p)).validate(p)]
        problems += [f"providers[{i}].preferences.responses_api: passthrough needs an engine that serves the Responses API "
                     f"(openai, azure); the {detect_engine(p)} engine is reached through chat"
                     for i, p in enumerate(self.providers)
                     if p.preferences.responses_api == "passthrough" and not get_adapter(detect_engine(p)).supports("responses")]
        if problems:
            raise ValueError("\n".join(problems))
