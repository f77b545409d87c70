"""``/auth``: registration and login.

The routes run on the event loop and hand each kind of work to its own threads: the rate
limiter (Redis) and the database (sync sessions) to the request threads, bcrypt to the
password pool (``service.passwords``), so a burst of logins holds at most that pool's few
threads, never the ones every other route needs.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, status
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from service.accounts import DATASET_ID
from service.context import AppContext
from service.deps import CtxDep, SessionDep, unauthorized
from service.models import User, UserPreference
from service.passwords import HashQueueFull
from service.ratelimit import RateLimited
from service.schemas import AuthOut, LoginIn, RegisterIn, UserOut
from service.security import create_token

router = APIRouter(prefix="/auth", tags=["auth"])

_DUPLICATE = "Email already registered"
_MISMATCH = "Incorrect email or password"


def client_address(request: Request) -> str:
    """The peer's address (uvicorn runs without proxy headers: it cannot be forged)."""
    return request.client.host if request.client is not None else "unknown"


def too_many(limited: RateLimited) -> HTTPException:
    """A 429 answer with the limit's reason and ``Retry-After``."""
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS,
        detail=limited.detail,
        headers={"Retry-After": str(limited.retry_after_s)},
    )


def queue_full(full: HashQueueFull) -> HTTPException:
    """A 503 answer with ``Retry-After``: the password hashing queue is full."""
    return HTTPException(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        detail=str(full),
        headers={"Retry-After": str(full.retry_after_s)},
    )


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    responses={400: {"description": "email already registered"}},
)
async def register(body: RegisterIn, request: Request, ctx: CtxDep, session: SessionDep) -> AuthOut:
    """Create an account and return it with a bearer token; 400 if the email is taken."""
    await run_in_threadpool(_admit_registration, ctx, client_address(request))
    # Hashed before the email is looked up: a taken email is answered after as long as a
    # new one, so the time does not tell (the answer does, as any sign-up form's must;
    # the per-address limit bounds how many emails a client can try).
    try:
        password_hash = await ctx.passwords.hash(body.password)
    except HashQueueFull as full:
        raise queue_full(full) from None
    user, dataset = await run_in_threadpool(_create_user, session, body, password_hash)
    return _auth(ctx, user, dataset)


def _admit_registration(ctx: AppContext, address: str) -> None:
    try:
        ctx.limiter.admit_registration(address)
    except RateLimited as limited:
        raise too_many(limited) from None


def _create_user(session: Session, body: RegisterIn, password_hash: str) -> tuple[UserOut, int]:
    """The new user and the data set it belongs to (read in the same statement as the
    email check; a re-seed's TRUNCATE then waits for this transaction, and removes the
    user after it, so the token's data set is right either way)."""
    taken, dataset = session.execute(
        select(select(User.id).where(User.email == body.email).scalar_subquery(), DATASET_ID)
    ).one()
    if taken is not None:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=_DUPLICATE)
    user = User(email=body.email, name=body.name, password_hash=password_hash)
    session.add(user)
    try:
        session.flush()
        session.add(UserPreference(user_id=user.id))
        session.commit()
    except IntegrityError:  # registered concurrently by another request
        session.rollback()
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=_DUPLICATE) from None
    # Read here, in a worker thread: a column not loaded yet would be a query.
    return UserOut.model_validate(user), int(dataset)


@router.post("/login", responses={401: {"description": "email and password do not match"}})
async def login(body: LoginIn, request: Request, ctx: CtxDep, session: SessionDep) -> AuthOut:
    """Exchange email and password for a bearer token; 401 if they do not match."""
    email = body.email.strip().lower()
    found = await run_in_threadpool(_admit_login, ctx, session, client_address(request), email)
    user, dataset = found if found is not None else (None, 0)
    # An unknown email is checked against a dummy hash of the same cost: the answer takes
    # as long as for a wrong password, and does not tell whether the account exists.
    try:
        matched = await ctx.passwords.verify(
            body.password, user.password_hash if user is not None else None
        )
    except HashQueueFull as full:
        raise queue_full(full) from None
    if user is None or not matched:
        raise unauthorized(_MISMATCH)
    # Every column was loaded by the query: no SQL on the event loop here.
    return _auth(ctx, UserOut.model_validate(user), dataset)


def _admit_login(
    ctx: AppContext, session: Session, address: str, email: str
) -> tuple[User, int] | None:
    """The user of ``email`` and its data set (one statement: they match), if any."""
    try:
        ctx.limiter.admit_login(address, email)
    except RateLimited as limited:
        raise too_many(limited) from None
    row = session.execute(select(User, DATASET_ID).where(User.email == email)).one_or_none()
    # Checking the password takes a while: give the connection back to the pool meanwhile
    # (a commit, unlike a rollback, leaves the loaded user readable without a new query).
    session.commit()
    return None if row is None else (row[0], int(row[1]))


def _auth(ctx: AppContext, user: UserOut, dataset: int) -> AuthOut:
    """The user with a token bound to ``dataset``, the data set the user was read from."""
    token = create_token(
        user.id, dataset=dataset, secret=ctx.settings.jwt_secret, ttl_s=ctx.settings.jwt_ttl_s
    )
    return AuthOut(user=user, token=token)
