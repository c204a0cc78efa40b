"""API clients for Wistia (source) and Upsales (destination); see docs/interfaces.md."""

from .errors import ApiError, AuthError
from .http import ApiSession
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
