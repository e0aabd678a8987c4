"""Where emails get written: OpenRouter, or offline templates when no API key is set."""

from content_generator.providers.base import (
    Completion,
    EmailProvider,
    EmailRequest,
    LlmCall,
    ProviderError,
    Usage,
)
from content_generator.providers.offline import OfflineProvider
from content_generator.providers.openrouter import OpenRouterProvider, RetryPolicy

__all__ = [
    "Completion",
    "EmailProvider",
    "EmailRequest",
    "LlmCall",
    "OfflineProvider",
    "OpenRouterProvider",
    "ProviderError",
    "RetryPolicy",
    "Usage",
]
