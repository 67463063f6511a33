"""Reply suggestions: the local engine, and an OpenAI-compatible provider (a real HTTP
stand-in on 127.0.0.1) with its fallback."""

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from accounts.tests.factories import UserFactory
from chats.models import Message
from chats.services import message_send
from chats.tests.factories import support_chat
from operators.suggestions import words
from operators.tests.factories import CannedResponseFactory

pytestmark = pytest.mark.django_db


def conversation(organization, operator, lines):
    """A support chat of a new customer with ``lines``: ("c" | "o", text)."""
    customer = UserFactory(organization=organization)
    chat = support_chat(customer)
    for who, text in lines:
        message_send(sender=customer if who == "c" else operator, chat=chat, text=text)
    return chat


def test_words_drop_noise():
    assert words("Hello! Where is my ORDER #1042? Orders, refunds...") == {"order", "refund"}


def test_canned_and_past_replies_ranked(client_for, organization, operator, other_organization):
    CannedResponseFactory(
        organization=organization, shortcut="refund", text="Refunds take 5 to 7 days."
    )
    CannedResponseFactory(organization=organization, shortcut="hello", text="Hi, how can I help?")
    CannedResponseFactory(
        organization=other_organization, shortcut="refund", text="Their refund policy."
    )
    conversation(
        organization,
        operator,
        [("c", "My parcel is late, where is the delivery?"), ("o", "Couriers run late today.")],
    )
    conversation(
        organization,
        operator,
        [("c", "I want a refund for the broken parcel"), ("o", "Sorry! Refund started.")],
    )
    chat = conversation(organization, operator, [("c", "The parcel arrived broken, refund?")])
    body = client_for(operator).get(f"/api/chats/{chat.pk}/suggestions?limit=3").json()
    assert body["engine"] == "local"
    # The past reply to the most similar question first (3 of 5 words shared), then the canned
    # refund answer, then a reply to a question sharing one word. Never another organization's
    # data, never an unrelated greeting.
    assert [(s["text"], s["source"]) for s in body["suggestions"]] == [
        ("Sorry! Refund started.", "history"),
        ("Refunds take 5 to 7 days.", "canned"),
        ("Couriers run late today.", "history"),
    ]
    assert body["suggestions"][1]["canned_response_id"] is not None
    scores = [s["score"] for s in body["suggestions"]]
    assert scores == sorted(scores, reverse=True) and scores[0] == 0.6
    one = client_for(operator).get(f"/api/chats/{chat.pk}/suggestions?limit=1").json()
    assert [s["text"] for s in one["suggestions"]] == ["Sorry! Refund started."]


def test_only_the_last_hour_counts(client_for, organization, operator):
    CannedResponseFactory(organization=organization, shortcut="refund", text="Refund is on its way")
    chat = conversation(organization, operator, [("c", "I need a refund")])
    Message.objects.filter(chat=chat).update(created_at=timezone.now() - timedelta(hours=2))
    body = client_for(operator).get(f"/api/chats/{chat.pk}/suggestions").json()
    assert body["suggestions"] == []


class StandIn(BaseHTTPRequestHandler):
    """An OpenAI-compatible provider: /chat/completions and /models."""

    requests: list = []
    reply = '["Sorry about that!", "I will refund you today."]'
    status = 200

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        StandIn.requests.append((self.path, self.headers["Authorization"], body))
        self._answer({"choices": [{"message": {"role": "assistant", "content": StandIn.reply}}]})

    def do_GET(self):
        StandIn.requests.append((self.path, self.headers["Authorization"], None))
        self._answer({"data": [{"id": "stand-in"}]})

    def _answer(self, payload):
        data = json.dumps(payload).encode()
        self.send_response(StandIn.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def provider(settings):
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    StandIn.requests, StandIn.status = [], 200
    settings.AI_API_KEY = "test-key"
    settings.AI_BASE_URL = f"http://127.0.0.1:{server.server_port}/v1"
    settings.AI_MODEL = "stand-in-model"
    yield StandIn
    server.shutdown()
    server.server_close()


def test_provider_writes_suggestions_from_the_transcript(
    client_for, organization, operator, provider
):
    chat = conversation(
        organization, operator, [("c", "It arrived broken"), ("o", "Oh no, let me check.")]
    )
    message_send(sender=operator, chat=chat, text="internal: VIP", kind="note")
    body = client_for(operator).get(f"/api/chats/{chat.pk}/suggestions?limit=2").json()
    assert body["engine"] == "ai"
    assert [s["text"] for s in body["suggestions"]] == [
        "Sorry about that!",
        "I will refund you today.",
    ]
    path, auth, sent = provider.requests[0]
    assert path == "/v1/chat/completions" and auth == "Bearer test-key"
    assert sent["model"] == "stand-in-model"
    assert [m["role"] for m in sent["messages"]] == ["system", "user", "assistant"]
    assert all("VIP" not in m["content"] for m in sent["messages"])  # notes stay inside


def test_provider_failure_falls_back_to_local(client_for, organization, operator, provider):
    provider.status = 500
    CannedResponseFactory(organization=organization, shortcut="broken", text="Send a photo.")
    chat = conversation(organization, operator, [("c", "It arrived broken")])
    body = client_for(operator).get(f"/api/chats/{chat.pk}/suggestions").json()
    assert body["engine"] == "local"
    assert [s["text"] for s in body["suggestions"]] == ["Send a photo."]


def test_ai_health(client_for, operator, provider, settings):
    client = client_for(operator)
    assert client.get("/api/ai/health").json() == {
        "provider": "openai_compatible",
        "base_url": settings.AI_BASE_URL,
        "model": "stand-in-model",
        "status": "ok",
    }
    assert provider.requests[-1][0] == "/v1/models"
    provider.status = 503
    down = client.get("/api/ai/health").json()
    assert down["status"] == "down" and "503" in down["detail"]


def test_ai_health_local(client_for, operator, settings):
    settings.AI_API_KEY = ""
    assert client_for(operator).get("/api/ai/health").json() == {
        "provider": "local",
        "status": "ok",
    }


def test_a_russian_question_finds_the_russian_canned_response_with_other_endings(
    client_for, organization, operator
):
    """Snowball stems: "доставку"/"доставки" asked, "Доставка" written; "возврат" apart."""
    CannedResponseFactory(
        organization=organization,
        shortcut="сроки",
        text="Доставка по Москве занимает один день, по России — от двух до пяти дней.",
    )
    CannedResponseFactory(
        organization=organization, shortcut="возврат", text="Возврат денег занимает 5–7 дней."
    )
    conversation(
        organization,
        operator,
        [("c", "Когда будет доставка в Казань?"), ("o", "В Казань везём три дня.")],
    )
    chat = conversation(
        organization, operator, [("c", "Подскажите, сколько ждать доставки в Москву?")]
    )
    body = client_for(operator).get(f"/api/chats/{chat.pk}/suggestions?limit=3").json()
    assert body["engine"] == "local"
    found = [(s["text"], s["source"]) for s in body["suggestions"]]
    assert found[0] == (
        "Доставка по Москве занимает один день, по России — от двух до пяти дней.",
        "canned",
    )
    # The past reply to "доставка" is found by its stem too; the refund answer is not offered.
    assert ("В Казань везём три дня.", "history") in found
    assert all("Возврат" not in text for text, _source in found)
