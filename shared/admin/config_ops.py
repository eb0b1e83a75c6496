"""The config document as the admin API shows and edits it: masking, resolving masked values, diffs.

Pure functions over the raw document (the ``api.yaml`` mapping as stored, ``${NAME}`` references
unexpanded). Why here and not in the handlers: the same three rules must hold for every endpoint
that reads or writes the document, and they are easiest to get right (and to test) in one place:

* every read masks secrets (:func:`mask_document`): provider ``api`` keys, private keys, AWS
  secrets, header values, gateway ``api_keys[].api`` and key-group rules naming another gateway
  key; a bare ``${NAME}`` reference is not a secret and is shown as it is;
* a masked value sent back means "keep the stored secret" (:func:`resolve_document`): provider
  secrets are matched by provider name, then by position and by masked suffix; a masked value that
  matches no stored secret is an error, never stored literally;
* an audit entry names the changed paths with masked old and new values (:func:`changes`).
"""

from __future__ import annotations

import copy
import os
import re
import secrets as random
from collections.abc import Callable, Iterable
from typing import Any

from ..config import ConfigError
from ..errors import GatewayError
from ..store.keys import gateway_key_id

MASK = "…"
SHORT_SECRET = 12  # a secret shorter than this is masked whole: its last 4 characters would be a third of it
PROVIDER_SECRETS = ("api", "private_key", "aws_secret_key", "aws_secret_access_key", "aws_session_token")
REFERENCE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")  # a bare ${NAME}: where the secret lives, not the secret

Document = dict[str, Any]


def mask_secret(value: str) -> str:
    """``"…"`` and the last 4 characters (``"…"`` alone for a short secret); a ``${NAME}`` reference as it is."""
    if REFERENCE.fullmatch(value):
        return value
    return MASK + value[-4:] if len(value) >= SHORT_SECRET else MASK


def is_masked(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(MASK)


def mask_value(value: Any) -> Any:
    """A secret field's value masked: a string, or each string of a list (``api: [k1, k2]``)."""
    if isinstance(value, str):
        return mask_secret(value)
    if isinstance(value, list):
        return [mask_secret(v) if isinstance(v, str) else v for v in value]
    return value


def expand(value: str) -> str:
    """``${NAME}`` references of one string expanded from the environment (as the loader does);
    the string as it is when a variable is unset."""
    from ..config.load import _expand

    try:
        out = _expand(value, os.environ, [])
    except ConfigError:
        return value
    return out if isinstance(out, str) else value


def key_id(api: Any) -> str:
    """A gateway key's id (16 hex digits of the SHA-256 of the key, the id in logs and usage)."""
    return gateway_key_id(expand(api)) if isinstance(api, str) else ""


def new_gateway_key() -> str:
    """``sk-`` and 48 URL-safe random characters (288 bits)."""
    return "sk-" + random.token_urlsafe(36)


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def gateway_secrets(document: Document) -> list[str]:
    return [k["api"] for k in _dicts(document.get("api_keys")) if isinstance(k.get("api"), str)]


def map_rules(rules: Any, change: Callable[[str], str]) -> Any:
    """``api_keys[].model`` with ``change`` applied to each rule's name (string or ``{rule: weight}``)."""
    if isinstance(rules, str):
        return change(rules)
    if not isinstance(rules, list):
        return rules
    out: list[Any] = []
    for rule in rules:
        if isinstance(rule, str):
            out.append(change(rule))
        elif isinstance(rule, dict):
            out.append({change(name) if isinstance(name, str) else name: weight for name, weight in rule.items()})
        else:
            out.append(rule)
    return out


def _rule_masker(keys: Iterable[str]) -> Callable[[str], str]:
    """Key-group rules (``<gateway key>/*``) name another gateway key: that part is a secret too."""
    known = set(keys)

    def change(rule: str) -> str:
        head, slash, tail = rule.partition("/")
        return mask_secret(head) + slash + tail if slash and head in known else rule

    return change


def mask_provider(provider: dict[str, Any]) -> dict[str, Any]:
    out = dict(provider)
    for name in PROVIDER_SECRETS:
        if name in out:
            out[name] = mask_value(out[name])
    prefs = out.get("preferences")
    if isinstance(prefs, dict) and isinstance(prefs.get("headers"), dict):
        out["preferences"] = {**prefs, "headers": {h: mask_value(v) for h, v in prefs["headers"].items()}}
    return out


def mask_key(entry: dict[str, Any], all_keys: Iterable[str]) -> dict[str, Any]:
    out = dict(entry)
    if "api" in out:
        out["api"] = mask_value(out["api"])
    if "model" in out:
        out["model"] = map_rules(out["model"], _rule_masker(all_keys))
    return out


def mask_document(document: Document) -> Document:
    """A copy of the document with every secret masked (the structure is unchanged: same keys,
    same list lengths, so a path means the same in both)."""
    out = copy.deepcopy(document)
    if isinstance(out.get("providers"), list):
        out["providers"] = [mask_provider(p) if isinstance(p, dict) else p for p in out["providers"]]
    if isinstance(out.get("api_keys"), list):
        keys = gateway_secrets(document)
        out["api_keys"] = [mask_key(k, keys) if isinstance(k, dict) else k for k in out["api_keys"]]
    return out


def provider_secrets(*documents: Document) -> set[str]:
    """Every literal provider secret of the documents (for scrubbing text that should hold none)."""
    found: set[str] = set()

    def add(value: Any) -> None:
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and len(item) >= 6 and not REFERENCE.fullmatch(item):
                found.add(item)

    for document in documents:
        for p in _dicts(document.get("providers")):
            for name in PROVIDER_SECRETS:
                add(p.get(name))
    return found


class Unresolved(GatewayError):
    """A masked value that matches no stored secret: the client must send the secret itself."""

    def __init__(self, path: str) -> None:
        super().__init__(400, f"{path}: this masked value matches no stored secret; send the secret itself "
                              "(a masked value means 'keep the stored one')", code="invalid_config", param=path)


def _resolve_list(value: list[Any], stored: list[Any], path: str) -> list[Any]:
    """Masked items of a list of secrets: the stored item at the same position when its mask
    matches, else the first unused stored item with that mask."""
    used: set[int] = set()
    out: list[Any] = []
    for i, item in enumerate(value):
        if not is_masked(item):
            out.append(item)
            continue
        if i < len(stored) and i not in used and isinstance(stored[i], str) and mask_secret(stored[i]) == item:
            match = i
        else:
            match = next((j for j, s in enumerate(stored) if j not in used and isinstance(s, str) and mask_secret(s) == item), -1)
        if match < 0:
            raise Unresolved(f"{path}[{i}]")
        used.add(match)
        out.append(stored[match])
    return out


def _resolve_secret(value: Any, stored: Any, path: str) -> Any:
    stored_list = stored if isinstance(stored, list) else [stored] if isinstance(stored, str) else []
    if isinstance(value, list):
        return _resolve_list(value, stored_list, path)
    if is_masked(value):
        try:
            return _resolve_list([value], stored_list, path)[0]
        except Unresolved:
            raise Unresolved(path) from None
    return value


def _unresolved(path: str) -> Any:
    raise Unresolved(path)


def resolve_provider(provider: dict[str, Any], stored: dict[str, Any] | None, path: str) -> dict[str, Any]:
    """``provider`` with masked secrets replaced by the stored provider's (``None``: it is new, so
    a masked value is an error)."""
    old = stored or {}
    out = dict(provider)
    for name in PROVIDER_SECRETS:
        if name in out:
            out[name] = _resolve_secret(out[name], old.get(name), f"{path}.{name}")
    prefs = out.get("preferences")
    if isinstance(prefs, dict) and isinstance(prefs.get("headers"), dict):
        old_prefs = old.get("preferences")
        old_headers = old_prefs.get("headers") if isinstance(old_prefs, dict) else None
        by_name = {str(h).lower(): v for h, v in old_headers.items()} if isinstance(old_headers, dict) else {}
        out["preferences"] = {**prefs, "headers": {h: _resolve_secret(v, by_name.get(str(h).lower()), f"{path}.preferences.headers.{h}")
                                                    for h, v in prefs["headers"].items()}}
    return out


def resolve_key_secret(value: Any, stored_keys: list[str], index: int, path: str) -> Any:
    """A gateway key's masked ``api``: the stored key at the same position when its mask matches,
    else the first stored key with that mask (ids are not in the document: they hash the key)."""
    if not is_masked(value):
        return value
    if index < len(stored_keys) and mask_secret(stored_keys[index]) == value:
        return stored_keys[index]
    match = next((k for k in stored_keys if mask_secret(k) == value), None)
    return match if match is not None else _unresolved(path)


def resolve_rules(rules: Any, known: list[str], path: str) -> Any:
    """Key-group rules whose key part is masked, resolved against the gateway keys."""

    def change(rule: str) -> str:
        head, slash, tail = rule.partition("/")
        if not (slash and is_masked(head)):
            return rule
        match = next((k for k in known if mask_secret(k) == head), None)
        return match + slash + tail if match is not None else _unresolved(path)

    return map_rules(rules, change)


def resolve_document(document: Document, stored: Document) -> Document:
    """A whole document sent back (``PUT /config``): masked values resolved against the stored one
    (providers by name, gateway keys by position and masked suffix)."""
    out = copy.deepcopy(document)
    by_name = {p.get("provider"): p for p in _dicts(stored.get("providers"))}
    if isinstance(out.get("providers"), list):
        out["providers"] = [resolve_provider(p, by_name.get(p.get("provider")), f"config.providers[{i}]") if isinstance(p, dict) else p
                            for i, p in enumerate(out["providers"])]
    if isinstance(out.get("api_keys"), list):
        stored_keys = gateway_secrets(stored)
        entries = out["api_keys"]
        for i, entry in enumerate(entries):
            if isinstance(entry, dict) and "api" in entry:
                entries[i] = {**entry, "api": resolve_key_secret(entry["api"], stored_keys, i, f"config.api_keys[{i}].api")}
        known = gateway_secrets(out) + stored_keys
        for i, entry in enumerate(entries):
            if isinstance(entry, dict) and "model" in entry:
                entries[i] = {**entry, "model": resolve_rules(entry["model"], known, f"config.api_keys[{i}].model")}
    return out


# -- diffs --------------------------------------------------------------------------------------

Change = dict[str, Any]


def _keyed(items: Any, masked: Any, name: Callable[[dict[str, Any]], str]) -> dict[str, tuple[Any, Any]]:
    """``{label: (raw item, masked item)}`` of a list of objects (providers by name, keys by id)."""
    out: dict[str, tuple[Any, Any]] = {}
    if isinstance(items, list) and isinstance(masked, list):
        for i, (item, shown) in enumerate(zip(items, masked, strict=False)):
            label = name(item) if isinstance(item, dict) else ""
            out[label or str(i)] = (item, shown)
    return out


def _walk(old: Any, new: Any, old_shown: Any, new_shown: Any, path: str, out: list[Change]) -> None:
    if old == new:
        return
    if isinstance(old, dict) and isinstance(new, dict) and isinstance(old_shown, dict) and isinstance(new_shown, dict):
        for key in [*old, *(k for k in new if k not in old)]:
            sub = f"{path}.{key}" if path else str(key)
            _walk(old.get(key), new.get(key), old_shown.get(key), new_shown.get(key), sub, out)
        return
    out.append({"path": path, "old": old_shown, "new": new_shown})


def _walk_list(old: Any, new: Any, old_shown: Any, new_shown: Any, path: str, label: Callable[[dict[str, Any]], str],
               out: list[Change]) -> None:
    before, after = _keyed(old, old_shown, label), _keyed(new, new_shown, label)
    if not before and not after:
        _walk(old, new, old_shown, new_shown, path, out)
        return
    for name in [*before, *(n for n in after if n not in before)]:
        o, o_shown = before.get(name, (None, None))
        n, n_shown = after.get(name, (None, None))
        _walk(o, n, o_shown, n_shown, f"{path}[{name}]", out)


def changes(old: Document, new: Document) -> list[Change]:
    """The changed leaves between two documents, old and new values masked: providers are matched
    by name (``providers[openai].base_url``), gateway keys by id (``api_keys[<id>].role``)."""
    old_shown, new_shown = mask_document(old), mask_document(new)
    out: list[Change] = []
    for key in [*old, *(k for k in new if k not in old)]:
        if key == "providers":
            _walk_list(old.get(key), new.get(key), old_shown.get(key), new_shown.get(key), key,
                       lambda p: str(p.get("provider") or ""), out)
        elif key == "api_keys":
            _walk_list(old.get(key), new.get(key), old_shown.get(key), new_shown.get(key), key, lambda k: key_id(k.get("api")), out)
        else:
            _walk(old.get(key), new.get(key), old_shown.get(key), new_shown.get(key), key, out)
    return out


def scrub(value: Any, secrets: Iterable[str]) -> Any:
    """``value`` (JSON-like) with every occurrence of ``secrets`` in its strings masked: the last
    guard for a secret pasted where no secret belongs (``notes``, a URL)."""
    ordered = sorted(set(secrets), key=len, reverse=True)
    if not ordered:
        return value

    def clean(node: Any) -> Any:
        if isinstance(node, str):
            for secret in ordered:
                if secret in node:
                    node = node.replace(secret, mask_secret(secret))
            return node
        if isinstance(node, list):
            return [clean(item) for item in node]
        if isinstance(node, dict):
            return {clean(k) if isinstance(k, str) else k: clean(v) for k, v in node.items()}
        return node

    return clean(value)
