"""Password hashing (bcrypt) and access tokens (JWT, HS256).

A token names a user (``sub``) and the data set it was issued in (``ds``, see
``service.accounts``): a user id means someone else once the data set is re-seeded.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import bcrypt
import jwt

__all__ = [
    "InvalidTokenError",
    "TokenClaims",
    "VerifiedTokens",
    "create_token",
    "hash_password",
    "read_token",
    "verify_password",
]

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


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a valid token says."""

    user_id: int
    #: The data set the token was issued in (``service.accounts.DATASET_ID``).
    dataset: int
    #: When it was issued (seconds since the epoch, rounded down).
    issued_at: int


def create_token(user_id: int, *, dataset: int, secret: str, ttl_s: int) -> str:
    """A signed token naming ``user_id`` of data set ``dataset``, valid for ``ttl_s`` seconds."""
    now = int(time.time())
    return jwt.encode(
        {"sub": str(user_id), "ds": dataset, "iat": now, "exp": now + ttl_s},
        secret,
        algorithm=_ALGORITHM,
    )


def read_token(token: str, *, secret: str) -> TokenClaims:
    """The claims of ``token``; raise ``InvalidTokenError`` if it is not valid now.

    A token without a data set (issued before tokens carried one) is invalid: its user
    logs in again.
    """
    return _verify(token, secret)[0]


def _verify(token: str, secret: str) -> tuple[TokenClaims, float]:
    """``token``'s claims and expiry time (seconds since the epoch), once verified."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[_ALGORITHM],
            options={"require": ["sub", "ds", "iat", "exp"]},
        )
    except jwt.ExpiredSignatureError:
        raise InvalidTokenError("token expired") from None
    except jwt.PyJWTError as error:
        raise InvalidTokenError(f"invalid token: {error}") from None
    try:
        user_id = int(claims["sub"])
    except (TypeError, ValueError):
        raise InvalidTokenError("invalid token: subject is not a user id") from None
    dataset, issued_at = claims["ds"], claims["iat"]
    if type(dataset) is not int or type(issued_at) is not int:
        raise InvalidTokenError("invalid token: data set or issue time is not an integer")
    return TokenClaims(user_id=user_id, dataset=dataset, issued_at=issued_at), claims["exp"]


class VerifiedTokens:
    """:func:`read_token` that remembers the tokens it verified, until each expires.

    A client sends the same token with every request: its signature is checked and its
    JSON read once, not per request. A remembered token is still refused once expired;
    only tokens that passed every check are kept, at most ``max_tokens`` (the oldest
    go first). One instance per secret, used from one thread (the event loop).
    """

    def __init__(self, secret: str, *, max_tokens: int = 10_000) -> None:
        self._secret = secret
        self._max_tokens = max_tokens
        self._verified: dict[str, tuple[TokenClaims, float]] = {}

    def read(self, token: str) -> TokenClaims:
        """The claims of ``token``, as :func:`read_token` gives them."""
        known = self._verified.get(token)
        if known is None:
            known = _verify(token, self._secret)
            if len(self._verified) >= self._max_tokens:
                del self._verified[next(iter(self._verified))]
            self._verified[token] = known
        claims, expires_at = known
        if time.time() >= expires_at:
            self._verified.pop(token, None)
            raise InvalidTokenError("token expired")
        return claims
