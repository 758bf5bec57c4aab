import pytest

from accounts.core.sliding_window import (
    Limit,
    describe_period,
    describe_wait,
    parse_limit,
    seconds_until_allowed,
    seconds_until_next_window,
    sliding_count,
    window_index,
)


@pytest.mark.parametrize(
    ("text", "limit"),
    [("10/m", Limit(10, 60)), ("100/h", Limit(100, 3600)), ("5/30s", Limit(5, 30)), ("3/2d", Limit(3, 172800))],
)
def test_limits_parse_as_count_per_period(text, limit):
    assert parse_limit(text) == limit


@pytest.mark.parametrize("text", ["", "10", "ten/m", "10/", "10/0s", "10/w"])
def test_malformed_limits_are_refused(text):
    with pytest.raises(ValueError):
        parse_limit(text)


def test_windows_are_aligned_to_the_period():
    limit = Limit(10, 60)

    assert window_index(119.9, limit) == 1
    assert window_index(120.0, limit) == 2
    assert seconds_until_next_window(100.0, limit) == 20
    assert seconds_until_next_window(119.99, limit) == 1


def test_the_sliding_count_weighs_the_previous_window_by_what_is_left_of_it():
    limit = Limit(10, 60)

    assert sliding_count(previous=8, current=2, now=120.0, limit=limit) == 10  # all of the previous window
    assert sliding_count(previous=8, current=2, now=150.0, limit=limit) == 6  # half of it
    assert sliding_count(previous=8, current=2, now=179.999, limit=limit) == pytest.approx(2, abs=0.01)


def test_a_burst_at_a_windows_edge_does_not_double_the_limit():
    limit = Limit(2, 60)
    # Two requests just before the edge fill the limit; one just after it is still one too many.
    assert sliding_count(previous=2, current=1, now=120.5, limit=limit) > 2


def test_the_wait_is_until_one_more_request_fits():
    limit = Limit(10, 60)

    # Room in this window once the previous window weighs 7 instead of 8: an eighth of the way in (7.5 s).
    assert seconds_until_allowed(previous=8, current=2, now=120.0, limit=limit) == 8
    # This window is full: wait into the next one until 10 * (1 - f) + 1 <= 10, a tenth in.
    assert seconds_until_allowed(previous=0, current=10, now=150.0, limit=limit) == 30 + 6
    assert seconds_until_allowed(previous=0, current=0, now=150.0, limit=limit) == 1


def test_waits_are_described_in_words():
    assert describe_wait(1) == "1 second"
    assert describe_wait(45) == "45 seconds"
    assert describe_wait(61) == "2 minutes"
    assert describe_wait(3600) == "1 hour"


def test_periods_are_described_in_words():
    assert describe_period(60) == "a minute"
    assert describe_period(3600) == "an hour"
    assert describe_period(30) == "every 30 seconds"
    assert describe_period(300) == "every 5 minutes"
