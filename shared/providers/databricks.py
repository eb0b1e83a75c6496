"""Azure Databricks model serving (uni-api's ``azure-databricks`` engine): the OpenAI chat format at
``{workspace}/serving-endpoints/<endpoint>/invocations``, the upstream model name being the serving
endpoint (``databricks-claude-sonnet-4``), and a personal access token sent as HTTP Basic
``token:<PAT>`` as uni-api does. Bodies and answers pass through as for any OpenAI-compatible host.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

from .openai import OpenAIAdapter

if TYPE_CHECKING:
    from ..config.schema import ProviderConfig
    from ..credentials import Credential
    from ..routing import Channel, Provider
    from .base import UpstreamRequest


def workspace_root(base_url: str) -> str:
    parts = urlsplit(base_url)
    return f"{parts.scheme}://{parts.netloc}"


class DatabricksAdapter(OpenAIAdapter):
    default_url = ""
    endpoints = OpenAIAdapter.endpoints - {"moderations"}

    def validate(self, provider: ProviderConfig) -> list[tuple[str, str]]:
        if not provider.base_url:
            return [("base_url", "Azure Databricks needs base_url: the workspace URL, e.g. https://adb-123.4.azuredatabricks.net")]
        return []

    def url(self, channel: Channel) -> str:
        return f"{workspace_root(channel.provider.base_url)}/serving-endpoints/{quote(channel.upstream_model, safe='')}/invocations"

    def models_request(self, provider: Provider, credential: Credential | None) -> UpstreamRequest | None:
        return None  # serving endpoints are listed in the config's ``model``

    def headers(self, key: str) -> dict[str, str]:
        headers = {"content-type": "application/json"}
        if key:
            headers["authorization"] = "Basic " + base64.b64encode(f"token:{key}".encode()).decode()
        return headers


adapter = DatabricksAdapter()
__all__ = ["DatabricksAdapter", "adapter"]
