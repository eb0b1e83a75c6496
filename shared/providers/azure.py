"""Azure OpenAI: deployment URLs with ``api-version``, the ``api-key`` header, and streams whose
first event is a prompt-filter annotation with empty ``choices`` (dropped here).

``base_url`` forms accepted: the resource root (``https://x.openai.azure.com``; the upstream model
name is the deployment), a full ``…/openai/deployments/<name>/chat/completions?api-version=…`` URL,
or the v1 form ``…/openai/v1`` (no api-version; the model is the deployment name). Every endpoint
(chat, moderations, …) lives under the same deployment: ``…/openai/deployments/<name>/<endpoint>``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import parse_qs, quote, urlsplit

from ..credentials import Credential
from .base import UpstreamRequest, secret_of
from .openai import OpenAIAdapter

if TYPE_CHECKING:
    from ..config.schema import ProviderConfig
    from ..routing import Channel, Provider

DEFAULT_API_VERSION = "2024-10-21"


def endpoint_url(base_url: str, deployment: str, endpoint: str) -> str:
    """The URL of ``endpoint`` (``chat/completions``, ``moderations``, …) for one deployment."""
    parts = urlsplit(base_url)
    root = f"{parts.scheme}://{parts.netloc}"
    path = parts.path.rstrip("/")
    version = parse_qs(parts.query).get("api-version", [DEFAULT_API_VERSION])[0]
    if "/openai/v1" in path:
        return f"{root}{path.split('/openai/v1')[0]}/openai/v1/{endpoint}"
    if "/deployments/" in path:
        head, _, rest = path.partition("/deployments/")
        name = rest.split("/")[0]
        return f"{root}{head}/deployments/{name}/{endpoint}?api-version={version}"
    return f"{root}{path}/openai/deployments/{quote(deployment, safe='')}/{endpoint}?api-version={version}"


class AzureAdapter(OpenAIAdapter):
    default_url = ""

    def validate(self, provider: ProviderConfig) -> list[tuple[str, str]]:
        if not provider.base_url:
            return [("base_url", "Azure OpenAI needs base_url: the resource URL, e.g. https://<resource>.openai.azure.com")]
        return []

    def url(self, channel: Channel) -> str:
        return endpoint_url(channel.provider.base_url, channel.upstream_model, "chat/completions")

    def endpoint_url(self, channel: Channel, endpoint: str) -> str:
        return endpoint_url(channel.provider.base_url, channel.upstream_model, endpoint)

    def headers(self, key: str) -> dict[str, str]:
        return {"content-type": "application/json", "api-key": key}

    def serves_responses(self, provider: Provider) -> bool:
        """Azure's v1 form (``…/openai/v1``) serves ``…/openai/v1/responses``; the deployment forms
        are translated to chat on the deployment's ``chat/completions``."""
        return "/openai/v1" in urlsplit(provider.base_url).path

    def models_request(self, provider: Provider, credential: Credential | None) -> UpstreamRequest | None:
        request = super().models_request(provider, credential)
        assert request is not None
        request.headers = {"api-key": secret_of(credential)}
        return request

    drop_empty_choices = True


adapter = AzureAdapter()
