"""Password hashing (bcrypt) and access tokens (JWT, HS256)."""

from __future__ import annotations

import time

import bcrypt
import jwt

__all__ = ["InvalidTokenError", "create_token", "hash_password", "read_token", "verify_password"]

_ALGORITHM = "HS256"


class InvalidTokenError(Exception):
    """The bearer token is malformed, forged or expired; the message says which."""


def hash_password(password: str, *, rounds: int = 12) -> str:
    """A bcrypt hash of ``password`` (bcrypt reads at most 72 bytes of it)."""
    return bcrypt.hashpw(password.encode()[:72], bcrypt.gensalt(rounds)).decode()


def verify_password(password: str, password_hash: str) -> bool:
    """Whether ``password`` matches ``password_hash``."""
    try:
        return bcrypt.checkpw(password.encode()[:72], password_hash.encode())
    except ValueError:  # a malformed stored hash matches nothing
        return False


def create_token(user_id: int, *, secret: str, ttl_s: int) -> str:
    """A signed token naming ``user_id``, valid for ``ttl_s`` seconds."""
    now = int(time.time())
    return jwt.encode(
        {"sub": str(user_id), "iat": now, "exp": now + ttl_s}, secret, algorithm=_ALGORITHM
    )


def read_token(token: str, *, secret: str) -> int:
    """The user id in ``token``; raise ``InvalidTokenError`` if it is not valid now."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=[_ALGORITHM], options={"require": ["sub", "exp"]}
        )
    except jwt.ExpiredSignatureError:
        raise InvalidTokenError("token expired") from None
    except jwt.PyJWTError as error:
        raise InvalidTokenError(f"invalid token: {error}") from None
    try:
        return int(claims["sub"])
    except (TypeError, ValueError):
        raise InvalidTokenError("invalid token: subject is not a user id") from None
