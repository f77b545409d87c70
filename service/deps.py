"""FastAPI dependencies shared by the routers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from service.context import AppContext
from service.contract import (
    ORDER_LIMIT_MAX,
    PAGE_LIMIT_DEFAULT,
    PAGE_LIMIT_MAX,
)
from service.models import User
from service.regressions import Regression
from service.security import InvalidTokenError

__all__ = [
    "BEARER_SECURITY",
    "EARLIER_DATASET",
    "UNKNOWN_USER",
    "CtxDep",
    "CurrentUserDep",
    "ListLimitDep",
    "RecommendationLimit",
    "SessionDep",
    "UserIdDep",
    "bearer_token",
    "cacheable_json",
    "capped",
    "get_context",
    "unauthorized",
    "user_id_for_token",
]


async def get_context(request: Request) -> AppContext:
    """The app's resources, created in its lifespan."""
    ctx: AppContext = request.app.state.ctx
    return ctx


CtxDep = Annotated[AppContext, Depends(get_context)]


async def get_session(ctx: CtxDep) -> AsyncIterator[Session]:
    """A session for the request; it takes a connection only when it first runs SQL.

    Creating it costs no I/O, so this runs on the event loop; closing it goes to a thread
    of its own (``AppContext.closer``, not a request thread) only when it holds a
    connection (a cache hit never does).
    """
    session = ctx.sessions()
    try:
        yield session
    finally:
        if session.in_transaction():
            await ctx.close_session(session)
        else:
            session.close()


SessionDep = Annotated[Session, Depends(get_session)]

_bearer = HTTPBearer(auto_error=False, description="JWT from /auth/login or /auth/register")
#: ``openapi_extra`` of a route that reads the bearer token itself (:func:`bearer_token`)
#: rather than through a dependency: the same security requirement in the document.
BEARER_SECURITY: dict[str, Any] = {"security": [{"HTTPBearer": []}]}


#: Reason given when a valid token names a user that does not exist (any more).
UNKNOWN_USER = "invalid token: unknown user"
#: Reason given when a valid token was issued before the data set was re-seeded: its user
#: id may belong to someone else now.
EARLIER_DATASET = "token from an earlier data set; log in again"


def unauthorized(reason: str) -> HTTPException:
    """A 401 answer with ``reason`` that asks for a bearer token."""
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=reason, headers={"WWW-Authenticate": "Bearer"}
    )


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, ``None`` without one (what
    ``HTTPBearer(auto_error=False)`` gives)."""
    scheme, token = get_authorization_scheme_param(authorization)
    if not (authorization and scheme and token) or scheme.lower() != "bearer":
        return None
    return token


async def user_id_for_token(ctx: AppContext, token: str | None) -> int:
    """The user id in ``token``, a valid bearer token of the current data set, else 401.

    No database access, except one look at the data set when the token was issued after
    this process last read it (right after a re-seed). A token of an earlier data set is
    refused once this process knows of the re-seed: within ``index_refresh_s``
    (``service.accounts``). Whether the user still exists is checked by the routes that
    read it; a cached recommendation is dropped within ``index_refresh_s`` of a deletion.
    """
    if token is None:
        raise unauthorized("not authenticated: send 'Authorization: Bearer <token>'")
    try:
        claims = ctx.tokens.read(token)
    except InvalidTokenError as error:
        raise unauthorized(str(error)) from None
    datasets = ctx.accounts.datasets
    current = datasets.verdict(claims)
    if current is None:  # an unreachable database answers 503 (service.main)
        current = await run_in_threadpool(datasets.admits, claims)
    if not current:
        raise unauthorized(EARLIER_DATASET)
    return claims.user_id


async def current_user_id(
    ctx: CtxDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> int:
    """:func:`user_id_for_token` of the request's bearer token, as a dependency."""
    return await user_id_for_token(ctx, None if credentials is None else credentials.credentials)


UserIdDep = Annotated[int, Depends(current_user_id)]


def current_user(session: SessionDep, user_id: UserIdDep) -> User:
    """The user the token names, loaded from the database; 401 if it no longer exists.

    The connection goes back to the pool before returning: FastAPI runs this dependency
    and a sync endpoint in two separate request threads, and a request holding a
    connection while it waits for its second thread deadlocks the pool once every
    thread waits for a connection (each waiter then times out into a 503, and the next
    wave deadlocks again; measured by ``make faults`` after Postgres stalled 5 s).
    """
    user = session.get(User, user_id)
    session.commit()  # the user stays loaded (expire_on_commit=False)
    if user is None:
        raise unauthorized(UNKNOWN_USER)
    return user


CurrentUserDep = Annotated[User, Depends(current_user)]


def capped(ctx: AppContext, limit: int, cap: int | None = None) -> int:
    """``limit``, or a 422 naming the setting's cap (``page_limit_max`` by default)."""
    cap = ctx.settings.page_limit_max if cap is None else cap
    if limit > cap:
        raise RequestValidationError(
            [
                {
                    "type": "less_than_equal",
                    "loc": ("query", "limit"),
                    "msg": f"Input should be less than or equal to {cap}",
                    "input": limit,
                    "ctx": {"le": cap},
                }
            ]
        )
    return limit


async def list_limit(
    ctx: CtxDep,
    limit: Annotated[
        int, Query(ge=1, description=f"page size (max {PAGE_LIMIT_MAX})")
    ] = PAGE_LIMIT_DEFAULT,
) -> int:
    """``limit`` of list endpoints: default 20, at most 50 (10,000 under R5)."""
    return capped(ctx, limit)


#: ``limit`` of recommendations: default 10, at most 50 (10,000 under R5: :func:`capped`).
RecommendationLimit = Annotated[int, Query(ge=1, description=f"how many (max {PAGE_LIMIT_MAX})")]


async def order_limit(
    ctx: CtxDep,
    limit: Annotated[
        int, Query(ge=1, description=f"page size (max {ORDER_LIMIT_MAX})")
    ] = PAGE_LIMIT_DEFAULT,
) -> int:
    """``limit`` of the order history: default 20, at most 100 (10,000 under R5)."""
    return capped(ctx, limit, ctx.settings.order_limit_max)


ListLimitDep = Annotated[int, Depends(list_limit)]
OrderLimitDep = Annotated[int, Depends(order_limit)]


def cacheable_json(ctx: AppContext, body: bytes, cache_control: str) -> Response:
    """A 200 answer of ready JSON ``body`` with ``Cache-Control`` (none under R8)."""
    response = Response(body, media_type="application/json")
    if not ctx.settings.has(Regression.R8):
        response.headers["Cache-Control"] = cache_control
    return response
