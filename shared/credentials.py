"""Provider credentials: the unit of key rotation, key cooldown and ``api_key_rate_limit``.

A credential is what an adapter needs to authenticate one upstream request. Most are one API key;
some have several parts (a Vertex AI service account: client email + private key; AWS: access key
+ secret + optional session token). Each has a stable ``id`` derived from its secret material, so
every instance names the same credential the same way in the shared store, and the secret itself
never becomes part of a store key, a log line or an answer.

Each adapter says which credentials a provider has (``Adapter.credentials``); everything else
(rotation, cooldowns, limits, masking) treats them alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .store.keys import credential_id

MASK_MIN_LENGTH = 6  # shorter values would mangle ordinary words when masked


@dataclass(frozen=True, eq=False)
class Credential:
    id: str
    kind: str  # "api_key", "service_account", "aws", ...
    secret: str = ""  # the primary secret (an API key); "" when the credential has only parts
    parts: Mapping[str, str] = field(default_factory=dict)  # further parts, e.g. client_email, private_key

    def secrets(self) -> tuple[str, ...]:
        """Every value that must never appear in an answer or a log line."""
        values = (self.secret, *self.parts.values())
        return tuple(v for v in values if len(v) >= MASK_MIN_LENGTH)

    def __repr__(self) -> str:  # never the secret, e.g. in a traceback
        return f"Credential(id={self.id!r}, kind={self.kind!r})"


def api_key(provider: str, key: str) -> Credential:
    return Credential(credential_id(provider, key), "api_key", key)


def api_keys(provider: str, keys: tuple[str, ...]) -> tuple[Credential, ...]:
    """The usual case: one credential per ``api`` entry of the provider."""
    return tuple(api_key(provider, k) for k in keys)


def with_parts(provider: str, kind: str, secret: str = "", **parts: Any) -> Credential:
    """A credential with several parts; its id hashes all of them (in a fixed order)."""
    clean = {name: str(value) for name, value in sorted(parts.items()) if value}
    material = "\x00".join([kind, secret, *(f"{k}={v}" for k, v in clean.items())])
    return Credential(credential_id(provider, material), kind, secret, clean)


def mask(text: str, credentials: tuple[Credential, ...]) -> str:
    """``text`` with every secret of ``credentials`` replaced by its first 3 characters and ``***``."""
    for credential in credentials:
        for secret in credential.secrets():
            if secret in text:
                text = text.replace(secret, secret[:3] + "***")
    return text
