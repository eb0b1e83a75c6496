"""Configuration: uni-api's ``api.yaml`` schema, its sources, and strict validation."""

from .load import ConfigError, load_config, load_config_document, parse_config_document, parse_config_text, parse_document
from .schema import GatewayConfig

__all__ = ["ConfigError", "GatewayConfig", "load_config", "load_config_document", "parse_config_document", "parse_config_text",
           "parse_document"]
