"""A provider's model list, read from its upstream through its adapter: model discovery when a
config loads (providers without ``model``) and the admin panel's "Fetch models" button.

One function for both, so the two cannot drift apart, and the answer is untrusted like any other
upstream body: bounded in time and in size (a hostile or broken ``/models`` must not hold a config
load or fill an instance's memory).
"""

from __future__ import annotations

import asyncio
import json

from .errors import GatewayError
from .providers.base import UpstreamError, merge_headers
from .routing import Provider

MAX_MODEL_LIST_BYTES = 8 * 1024 * 1024  # a list of ~100,000 model objects; OpenRouter's is ~1 MB
ERROR_BYTES = 64 * 1024


class ModelListFailed(GatewayError):
    """502 ``upstream_error``: the model list could not be read; ``upstream_status`` when it answered."""

    def __init__(self, message: str, status: int | None) -> None:
        super().__init__(502, message, code="upstream_error")
        self.extra = {"upstream_status": status}  # the admin API adds it next to the error object


async def fetch_models(provider: Provider, timeout: float) -> list[str]:
    """The model ids the provider's upstream lists, with its first key. Raises
    :class:`ModelListFailed` (messages masked with the provider's own keys), or a 400
    ``no_model_list`` for an engine without a model list endpoint."""
    from .http_client import get_client, read_body

    adapter = provider.adapter
    request = adapter.models_request(provider, provider.credentials[0] if provider.credentials else None)
    if request is None:
        raise GatewayError(400, f"The {provider.engine} engine has no model list: name the models in 'model'.", code="no_model_list")
    client = get_client(provider.proxy)
    try:
        async with asyncio.timeout(timeout):
            response = await client.send(client.build_request("GET", request.url, headers=merge_headers(request.headers, provider.headers)),
                                         stream=True)
            try:
                if response.status_code != 200:
                    data = await read_body(response, ERROR_BYTES, truncate=True, idle_timeout=timeout)
                    error = adapter.parse_error(response.status_code, data, response.headers)
                    raise ModelListFailed(provider.mask(f"The model list answered HTTP {response.status_code}: {error.message}"),
                                          response.status_code)
                data = await read_body(response, MAX_MODEL_LIST_BYTES, idle_timeout=timeout)
            finally:
                await response.aclose()
    except TimeoutError:
        raise ModelListFailed(f"The model list did not answer within {timeout:g} s.", None) from None
    except UpstreamError as exc:  # over the size limit
        raise ModelListFailed(provider.mask(f"The model list could not be read: {exc.message}"), 200) from None
    except ModelListFailed:
        raise
    except Exception as exc:
        raise ModelListFailed(f"The model list could not be fetched ({type(exc).__name__}).", None) from None
    try:
        return adapter.parse_models(json.loads(data))
    except (ValueError, RecursionError, TypeError, AttributeError):
        raise ModelListFailed("The model list answered 200 with a body that is not a model list.", 200) from None
