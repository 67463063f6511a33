import pytest

from chats.models import Chat

pytestmark = pytest.mark.django_db


def test_chat_page_creates_the_customers_support_chat_once(client, customer):
    client.force_login(customer)
    first = client.get("/chat/")
    second = client.get("/chat/")
    assert first.status_code == second.status_code == 200
    chat = Chat.objects.get(customer=customer)
    assert f'data-chat-id="{chat.id}"' in first.content.decode()
    assert f'data-user-id="{customer.id}"' in first.content.decode()
    assert Chat.objects.filter(customer=customer).count() == 1


def test_chat_page_needs_login(client):
    response = client.get("/chat/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_staff_go_to_the_back_office(client, operator):
    client.force_login(operator)
    response = client.get("/chat/")
    assert response.status_code == 302 and response["Location"] == "/admin/chats/chat/"
