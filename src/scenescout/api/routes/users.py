"""``/api/users``: users, and their data export and erasure (GDPR)."""

from __future__ import annotations

from fastapi import APIRouter

from scenescout.api.deps import PrincipalDep, ServicesDep, UserIdPath
from scenescout.api.errors import ERROR_RESPONSES
from scenescout.api.schemas import (
    Envelope,
    ErasureData,
    ErasureStatus,
    UserExport,
)
from scenescout.domain import User

router = APIRouter(prefix="/api/users", tags=["users"], responses=ERROR_RESPONSES)


@router.post("", status_code=201)
def create_user(user: User, principal: PrincipalDep, services: ServicesDep) -> Envelope[User]:
    """Create a user, with an optional home and explicit preferences."""
    return Envelope(data=services.users.create(principal, user))


@router.get("/{user_id}")
def get_user(user_id: UserIdPath, principal: PrincipalDep, services: ServicesDep) -> Envelope[User]:
    """A user and their explicit preferences."""
    return Envelope(data=services.users.get(principal, user_id))


@router.get("/{user_id}/export")
def export_user(
    user_id: UserIdPath, principal: PrincipalDep, services: ServicesDep
) -> Envelope[UserExport]:
    """Everything stored about a user (GDPR right of access)."""
    return Envelope(data=services.users.export(principal, user_id))


@router.delete("/{user_id}")
def delete_user(
    user_id: UserIdPath, principal: PrincipalDep, services: ServicesDep
) -> Envelope[ErasureData]:
    """Erase a user everywhere: database, cache, profile and model state (GDPR)."""
    return Envelope(data=services.users.delete(principal, user_id))


@router.get("/{user_id}/erasure")
def erasure_status(
    user_id: UserIdPath, principal: PrincipalDep, services: ServicesDep
) -> Envelope[ErasureStatus]:
    """What is left of a user anywhere (service keys only); ``erased`` once nothing is."""
    return Envelope(data=services.users.erasure_status(principal, user_id))
