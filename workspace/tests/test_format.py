"""The presentation helpers the rows and cards use (static/workspace/format.js mirrors them)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import User
from workspace.templatetags.workspace import ago, avatar_hue, display_name, duration, initials


@pytest.mark.parametrize(
    ("value", "expected"),
    [("Paula Customer", "PC"), ("bob.smith", "BS"), ("cher", "C"), ("", "?"), ("  ", "?")],
)
def test_initials(value, expected):
    assert initials(value) == expected


def test_a_user_without_a_name_is_called_by_the_email_local_part():
    user = User(email="dana.scully@example.com", name="")
    assert display_name(user) == "dana.scully"
    assert initials(user) == "DS"
    assert display_name(User(email="x@example.com", name="Fox Mulder")) == "Fox Mulder"


def test_avatar_hue_is_stable_and_in_range():
    assert avatar_hue(42) == avatar_hue("42")
    assert 0 <= avatar_hue("someone") < 360
    assert avatar_hue(None) == 0


def test_ago():
    now = timezone.now()
    assert ago(None) == ""
    assert ago(now - timedelta(seconds=5), now) == "now"
    assert ago(now - timedelta(minutes=5), now) == "5m"
    assert ago(now - timedelta(hours=3), now) == "3h"
    assert ago(now - timedelta(days=2), now) == "2d"
    assert "," in ago(now - timedelta(days=800), now)


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(None, "—"), (42.4, "42s"), (185, "3m 5s"), (180, "3m"), (4800, "1h 20m")],
)
def test_duration(seconds, expected):
    assert duration(seconds) == expected
