"""The HTTP service: ``create_app(settings)``, thin routes over services, auth and errors.

>>> from scenescout.api import create_app  # doctest: +SKIP
>>> app = create_app(ApiSettings(), engine=engine, store=store)  # doctest: +SKIP
"""

from scenescout.api.app import app_from_environment, create_app
from scenescout.api.auth import Principal, issue_user_token
from scenescout.api.errors import ApiError
from scenescout.api.forget import forget_user, remaining_user_state
from scenescout.api.settings import ApiConfig, ApiSettings

__all__ = [
    "ApiConfig",
    "ApiError",
    "ApiSettings",
    "Principal",
    "app_from_environment",
    "create_app",
    "forget_user",
    "issue_user_token",
    "remaining_user_state",
]
