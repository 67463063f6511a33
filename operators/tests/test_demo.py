import pytest

from accounts.models import User
from chats.tests.factories import support_chat
from crm.demo import DEMO_CANNED_RESPONSES, seed_demo
from operators.models import CannedResponse, OperatorProfile

pytestmark = pytest.mark.django_db


def test_demo_operators_and_canned_responses_once():
    organization, _ = seed_demo()
    seed_demo()
    profiles = OperatorProfile.objects.filter(user__organization=organization)
    assert sorted(profiles.values_list("user__role", "availability")) == [
        ("operator", "online"),
        ("senior_operator", "online"),
    ]
    assert CannedResponse.objects.filter(organization=organization).count() == len(
        DEMO_CANNED_RESPONSES
    )
    chat = support_chat(User.objects.get(email="customer@demo.example.com"))
    assert chat.assignee is not None  # someone is online to take it
