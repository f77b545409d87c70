"""The Zipf-like choice of seeded accounts."""

from __future__ import annotations

from collections import Counter

import pytest

from scenarios.accounts import AccountPicker, user_email


def test_choice_is_skewed_towards_low_ranks_and_in_range() -> None:
    picker = AccountPicker(accounts=2000, seed=1)
    counts = Counter(picker.pick() for _ in range(20_000))
    assert min(counts) >= 0
    assert max(counts) < 2000
    top_ten = sum(counts[index] for index in range(10))
    # Uniform choice would give the ten first accounts 0.5 %; Zipf(1.1) gives them ~30 %.
    assert top_ten / 20_000 > 0.2
    assert counts[0] > counts[100] * 20


def test_same_seed_same_accounts() -> None:
    first, again = AccountPicker(accounts=50, seed=3), AccountPicker(accounts=50, seed=3)
    assert [first.pick() for _ in range(100)] == [again.pick() for _ in range(100)]


def test_rejects_empty_population() -> None:
    with pytest.raises(ValueError, match="accounts must be >= 1"):
        AccountPicker(accounts=0)


def test_seeded_login_email() -> None:
    assert user_email(7) == "user00007@tastematch.test"
