"""uni-gateway: an OpenAI-compatible LLM API gateway for serverless clouds.

The package is deliberately cheap to import: the ASGI app lives in ``shared.app`` and pulls in
only what the first request needs. Provider modules, Redis clients and google-auth are imported
lazily, when a channel or store that needs them is first used.
"""

__version__ = "0.1.0"
