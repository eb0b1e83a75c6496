"""Run the gateway locally: ``python main.py`` (HOST and PORT from the environment, 127.0.0.1:8000 by default).

The config is loaded before the server starts, so a broken api.yaml stops here with a clear message
instead of failing the first request.
"""

from __future__ import annotations

import asyncio
import logging
import sys


def main() -> int:
    import uvicorn

    from shared.config import ConfigError, load_config
    from shared.logs import setup
    from shared.settings import Settings

    try:
        settings = Settings.from_env()
        setup(settings.log_level, settings.log_format)
        config, source = asyncio.run(load_config(settings))
    except (ConfigError, ValueError) as exc:
        print(f"configuration error:\n{exc}", file=sys.stderr)
        return 1
    from shared.app import create_app

    from shared.local_server import protocol_class

    app = create_app(settings, config, source=source)
    logging.getLogger("gateway").info("config from %s: %d providers, %d api_keys; listening on http://%s:%d",
                                      source, len(config.providers), len(config.api_keys), settings.host, settings.port)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning", loop="auto",
                http=protocol_class(settings.header_timeout, settings.max_header_bytes), ws="none", access_log=False,
                timeout_keep_alive=5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
