"""The Zipf-like choice of seeded accounts."""

from __future__ import annotations

from collections import Counter

import pytest

from scenarios.accounts import AccountPicker, use_stream, user_email


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


def test_each_worker_stream_draws_its_own_accounts_and_stream_0_is_the_seeds() -> None:
    # Forked workers start from the same picker state; each then takes its own stream.
    first, second = AccountPicker(accounts=2000, seed=7), AccountPicker(accounts=2000, seed=7)
    single_process = AccountPicker(accounts=2000, seed=7)
    alone = [single_process.pick() for _ in range(50)]

    second.use_stream(1)
    draws = [second.pick() for _ in range(50)]
    first.use_stream(0)

    assert [first.pick() for _ in range(50)] == alone
    assert draws != alone
    again = AccountPicker(accounts=2000, seed=7)
    again.use_stream(1)
    assert [again.pick() for _ in range(50)] == draws  # still deterministic


def test_use_stream_reaches_every_picker_of_the_process() -> None:
    pickers = [AccountPicker(accounts=500, seed=11) for _ in range(2)]
    use_stream(3)
    expected = AccountPicker(accounts=500, seed=11)
    expected.use_stream(3)
    wanted = [expected.pick() for _ in range(20)]
    assert [pickers[0].pick() for _ in range(20)] == wanted
    assert [pickers[1].pick() for _ in range(20)] == wanted
    use_stream(0)  # every picker of this test process back to its seed's own sequence
    with pytest.raises(ValueError, match="stream must be >= 0"):
        pickers[0].use_stream(-1)
