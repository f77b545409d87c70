"""``VerifiedTokens``: a token's signature is checked once, and it still expires."""

from __future__ import annotations

import time

import jwt
import pytest

from service.security import InvalidTokenError, VerifiedTokens, create_token, read_token

SECRET = "s" * 32


@pytest.fixture
def decoded(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tokens ``jwt.decode`` reads during the test, in order."""
    seen: list[str] = []
    real_decode = jwt.decode

    def counting_decode(*args: object, **kwargs: object) -> object:
        seen.append(str(args[0]))
        return real_decode(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(jwt, "decode", counting_decode)
    return seen


def test_a_repeated_token_is_verified_once_with_the_same_claims(decoded: list[str]) -> None:
    token = create_token(42, dataset=7, secret=SECRET, ttl_s=60)
    tokens = VerifiedTokens(SECRET)
    first, again = tokens.read(token), tokens.read(token)
    assert first == again == read_token(token, secret=SECRET)
    assert decoded == [token, token]  # two reads by `tokens`' first call and read_token


def test_a_remembered_token_is_refused_once_it_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    token = create_token(42, dataset=7, secret=SECRET, ttl_s=30)
    tokens = VerifiedTokens(SECRET)
    assert tokens.read(token).user_id == 42
    later = time.time() + 31
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(InvalidTokenError, match="token expired"):
        tokens.read(token)


def test_forged_and_expired_tokens_are_refused_and_not_remembered() -> None:
    tokens = VerifiedTokens(SECRET)
    forged = create_token(42, dataset=7, secret=SECRET + "!", ttl_s=60)
    for _ in range(2):
        with pytest.raises(InvalidTokenError, match="Signature verification failed"):
            tokens.read(forged)
    with pytest.raises(InvalidTokenError, match="token expired"):
        tokens.read(create_token(42, dataset=7, secret=SECRET, ttl_s=-1))


def test_at_most_max_tokens_are_remembered_the_oldest_going_first(decoded: list[str]) -> None:
    tokens = VerifiedTokens(SECRET, max_tokens=2)
    made = [create_token(user, dataset=7, secret=SECRET, ttl_s=60) for user in (1, 2, 3)]
    for token in made:
        tokens.read(token)
    decoded.clear()
    assert [tokens.read(token).user_id for token in made[1:]] == [2, 3]
    assert decoded == []
    assert tokens.read(made[0]).user_id == 1
    assert decoded == [made[0]]
