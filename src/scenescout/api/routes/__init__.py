"""The HTTP routes, one router per area; each route calls one service method."""

from scenescout.api.routes import events, personalization, system, users

ROUTERS = (personalization.router, events.router, users.router, system.router)

__all__ = ["ROUTERS"]
