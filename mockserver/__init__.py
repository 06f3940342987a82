"""mockserver: an offline stand-in for the Anthropic Claude API."""

__version__ = "0.1.0"
