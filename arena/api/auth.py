"""Bearer tokens with roles: the configuration holds each token's SHA-256, never the token."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from arena.config import API_ROLES, ApiToken

bearer = HTTPBearer(auto_error=False, description="a token of `ARENA_API_TOKENS`")


def token_hash(token: str) -> str:
    """The hex SHA-256 of ``token``: what ``ARENA_API_TOKENS`` holds for it."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A random token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


class TokenAuth:
    """Who a request's bearer token is, and whether its role allows an action."""

    def __init__(self, tokens: tuple[ApiToken, ...]) -> None:
        self._tokens = tokens

    def identify(self, token: str) -> ApiToken | None:
        digest = token_hash(token)
        found = None
        for candidate in self._tokens:  # compare with every entry: no early exit to time
            if hmac.compare_digest(candidate.sha256, digest):
                found = candidate
        return found

    def require(self, role: str) -> Callable[..., ApiToken]:
        """A FastAPI dependency: the caller's token, which must have ``role`` or a higher one."""
        needed = API_ROLES.index(role)

        def dependency(
            credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
        ) -> ApiToken:
            if credentials is None or credentials.scheme.lower() != "bearer":
                raise HTTPException(
                    status.HTTP_401_UNAUTHORIZED,
                    "a bearer token is required (Authorization: Bearer <token>)",
                    headers={"WWW-Authenticate": "Bearer"},
                )
            caller = self.identify(credentials.credentials)
            if caller is None:
                raise HTTPException(
                    status.HTTP_401_UNAUTHORIZED,
                    "unknown token",
                    headers={"WWW-Authenticate": "Bearer"},
                )
            if API_ROLES.index(caller.role) < needed:
                raise HTTPException(
                    status.HTTP_403_FORBIDDEN,
                    f"token {caller.name!r} has role {caller.role}; this needs {role}",
                )
            return caller

        return dependency
