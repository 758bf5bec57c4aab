"""API keys: the X-Api-Key header, as Neuronpedia and its Python client send it. A key is created and
revoked on the account page (accounts.views.api_keys); only its hash is stored (accounts.models.ApiKey)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from accounts.services import api_key_user

HEADER = "X-Api-Key"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        raw_key = request.META.get("HTTP_X_API_KEY")
        if raw_key is None:
            return None  # not this scheme: the session may still authenticate the request
        raw_key = raw_key.strip()
        if not raw_key:
            raise exceptions.AuthenticationFailed("The X-Api-Key header is empty.")
        user = api_key_user(raw_key)
        if user is None:
            raise exceptions.AuthenticationFailed(
                "That API key is not valid: it may have been revoked. Create one on your account page."
            )
        return user, "api-key"

    def authenticate_header(self, request) -> str:
        # Makes DRF answer 401 (not 403) to a request that is not authenticated, as Neuronpedia's client expects.
        return f'ApiKey header="{HEADER}"'


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.ApiKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema) -> dict:
        return {"type": "apiKey", "in": "header", "name": HEADER}
