"""Configuration: uni-api's ``api.yaml`` schema, its sources, and strict validation."""

from .load import ConfigError, load_config, parse_config_text
from .schema import GatewayConfig

__all__ = ["ConfigError", "GatewayConfig", "load_config", "parse_config_text"]
