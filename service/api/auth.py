"""``/auth``: registration and login."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from service.deps import CtxDep, SessionDep, unauthorized
from service.models import User, UserPreference
from service.schemas import AuthOut, LoginIn, RegisterIn, UserOut
from service.security import create_token, hash_password, verify_password

router = APIRouter(prefix="/auth", tags=["auth"])

_DUPLICATE = "Email already registered"


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    responses={400: {"description": "email already registered"}},
)
def register(body: RegisterIn, ctx: CtxDep, session: SessionDep) -> AuthOut:
    """Create an account and return it with a bearer token; 400 if the email is taken."""
    if session.scalar(select(User.id).where(User.email == body.email)) is not None:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=_DUPLICATE)
    # Hashing takes a while: give the connection back to the pool meanwhile.
    session.commit()
    password_hash = hash_password(body.password, rounds=ctx.settings.bcrypt_rounds)
    user = User(email=body.email, name=body.name, password_hash=password_hash)
    session.add(user)
    try:
        session.flush()
        session.add(UserPreference(user_id=user.id))
        session.commit()
    except IntegrityError:  # registered concurrently by another request
        session.rollback()
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=_DUPLICATE) from None
    return _auth(ctx, user)


@router.post("/login", responses={401: {"description": "email and password do not match"}})
def login(body: LoginIn, ctx: CtxDep, session: SessionDep) -> AuthOut:
    """Exchange email and password for a bearer token; 401 if they do not match."""
    user = session.scalar(select(User).where(User.email == body.email.strip().lower()))
    # Checking the password takes a while: give the connection back to the pool meanwhile
    # (a commit, unlike a rollback, leaves the loaded user readable without a new query).
    session.commit()
    if user is None or not verify_password(body.password, user.password_hash):
        raise unauthorized("Incorrect email or password")
    return _auth(ctx, user)


def _auth(ctx: CtxDep, user: User) -> AuthOut:
    token = create_token(user.id, secret=ctx.settings.jwt_secret, ttl_s=ctx.settings.jwt_ttl_s)
    return AuthOut(user=UserOut.model_validate(user), token=token)
