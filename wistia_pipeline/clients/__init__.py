"""API clients for Wistia (source) and Upsales (destination); see docs/interfaces.md."""

from .http import ApiError, ApiSession, AuthError
from .upsales import UpsalesClient, UpsalesResource
from .wistia import WistiaClient, WistiaResource

__all__ = [
    "ApiError",
    "ApiSession",
    "AuthError",
    "UpsalesClient",
    "UpsalesResource",
    "WistiaClient",
    "WistiaResource",
]
