"""Clients of OutageCast's own services (the HTTP API)."""

from outagecast.clients.api import ApiClient, ApiError, ApiProblem, ApiUnavailable, Health

__all__ = ["ApiClient", "ApiError", "ApiProblem", "ApiUnavailable", "Health"]
