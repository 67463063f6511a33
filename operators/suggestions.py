"""Reply suggestions for an operator, drawn from the last hour of the conversation.

With ``AI_API_KEY`` set, an OpenAI-compatible chat completion (DeepSeek by default) writes
them; without it, or when the provider fails, the local engine ranks the organization's canned
responses and its past replies to customer messages like the current ones.
"""

from __future__ import annotations

import json
import logging
import re
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from datetime import timedelta
from functools import reduce
from operator import or_

import snowballstemmer
from django.conf import settings
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone

from accounts.models import STAFF_ROLES
from chats.models import Chat, ChatKind, Message, MessageKind
from crm.tenancy import scoped
from operators.selectors import canned_responses_of

logger = logging.getLogger(__name__)

WINDOW = timedelta(hours=1)
HISTORY_DAYS = 90
MAX_CANDIDATES = 200
_WORD = re.compile(r"\w+", re.UNICODE)
_STOPWORDS = frozenset(
    """a an and are as at be but by can could do does for from have hello hi how i if in is it
    its me my no not of on or our please so that the their there this to was we what when
    where which who why will with would you your yes ok thanks thank""".split()  # noqa: SIM905
)


# Russian words that carry no topic (question words, pronouns, politeness); with the length
# rule below most prepositions and particles are gone already.
_STOPWORDS_RU = frozenset(
    """как что это где когда кто чем чего зачем почему сколько какой какая какое какие который
    мой моя моё мое мои мне меня нас наш наша ваш ваша ваше вам вас они его она оно них ему
    ей был была было были будет есть нет или если так там тут уже еще ещё очень можно нужно
    надо хочу хотел хотела хотим пожалуйста спасибо здравствуйте привет добрый подскажите
    скажите помогите для при без про под над после через только тоже также даже вот все всё
    чтобы тогда теперь сейчас""".split()  # noqa: SIM905
)
_CYRILLIC = re.compile(r"[а-яё]")
_STEMMERS = {
    "ru": snowballstemmer.stemmer("russian"),
    "en": snowballstemmer.stemmer("english"),
}


def stems(text: str, *, keep_stopwords: bool = False) -> set[str]:
    """Word stems in Russian and English (Snowball), so that "доставка", "доставки" and
    "доставку" or "refund" and "refunds" are one topic. Noise words go unless kept."""
    found = set()
    for word in _WORD.findall(text.lower().replace("ё", "е")):
        if word.isdigit():
            continue
        if not keep_stopwords and (len(word) < 3 or word in _STOPWORDS or word in _STOPWORDS_RU):
            continue
        language = "ru" if _CYRILLIC.search(word) else "en"
        found.add(_STEMMERS[language].stemWord(word))
    return found


@dataclass(frozen=True)
class Suggestion:
    text: str
    source: str  # "canned" | "history" | "ai"
    score: float
    canned_response_id: int | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def words(text: str) -> set[str]:
    """Lower-case content words, plural "s" stripped: the local engine's notion of a topic."""
    found = set()
    for word in _WORD.findall(text.lower()):
        if len(word) < 3 or word in _STOPWORDS or word.isdigit():
            continue
        found.add(word[:-1] if len(word) > 3 and word.endswith("s") else word)
    return found


def _similarity(query: set[str], other: set[str]) -> float:
    if not query or not other:
        return 0.0
    return len(query & other) / len(query | other)


def _recent_messages(chat: Chat) -> list[Message]:
    """The last hour of the conversation as the customer saw it, oldest first."""
    since = timezone.now() - WINDOW
    rows = (
        Message.objects.filter(
            chat=chat, created_at__gte=since, deleted_at__isnull=True, staff_only=False
        )
        .exclude(kind=MessageKind.SYSTEM)
        .select_related("sender")
        .order_by("-id")[:30]
    )
    return list(reversed(rows))


def canned_matches(*, organization_id: int, query: set[str]) -> list[Suggestion]:
    """The organization's canned responses sharing stems (``stems``) with ``query``, best
    first (one query, at most ``MAX_CANDIDATES`` responses read). The inbox bot answers from
    the first of them."""
    if not query:
        return []
    found = []
    for response in canned_responses_of(organization=organization_id)[:MAX_CANDIDATES]:
        topic = stems(f"{response.shortcut} {response.text}")
        overlap = len(query & topic)
        if overlap:
            # How much of what the customer asked this reply covers, nudged by its precision.
            score = overlap / len(query) * 0.8 + _similarity(query, topic) * 0.2
            found.append(Suggestion(response.text, "canned", round(score, 3), response.pk))
    found.sort(key=lambda s: (-s.score, s.canned_response_id))
    return found


def _history_suggestions(chat: Chat, query: set[str], asked: set[str]) -> list[Suggestion]:
    """Replies staff gave in other support chats right after a customer message sharing the
    current topic's rarest-looking (longest) words or stems (a Russian stem is the start of
    each of its forms: "доставк" finds "доставку" and "доставки"), ranked by shared stems."""
    keywords = {
        *sorted(asked, key=len, reverse=True)[:5],
        *sorted((s for s in query if len(s) >= 4), key=len, reverse=True)[:5],
    }
    if not keywords:
        return []
    reply = (
        Message.objects.filter(
            chat_id=OuterRef("chat_id"),
            id__gt=OuterRef("id"),
            kind=MessageKind.TEXT,
            staff_only=False,
            deleted_at__isnull=True,
            sender__role__in=STAFF_ROLES,
        )
        .order_by("id")
        .values("text")[:1]
    )
    asked = (
        scoped(Message.objects.all(), chat.organization_id)
        .filter(
            reduce(or_, (Q(text__icontains=k) for k in keywords)),
            chat__kind=ChatKind.SUPPORT,
            kind=MessageKind.TEXT,
            sender__role="customer",
            deleted_at__isnull=True,
            created_at__gte=timezone.now() - timedelta(days=HISTORY_DAYS),
        )
        .exclude(chat=chat)
        .annotate(reply=Subquery(reply))
        .filter(reply__isnull=False)
        .order_by("-id")
        .values_list("text", "reply")[:MAX_CANDIDATES]
    )
    return [
        Suggestion(answer, "history", round(_similarity(query, stems(question)), 3))
        for question, answer in asked
        if answer.strip()
    ]


def local_suggestions(chat: Chat, recent: list[Message], *, limit: int) -> list[Suggestion]:
    customer_lines = [m.text for m in recent if m.sender_id == chat.customer_id and m.text]
    asked = " ".join(customer_lines[-3:])
    query = stems(asked)
    if not query:
        return []
    canned = canned_matches(organization_id=chat.organization_id, query=query)
    ranked = sorted(
        [*canned, *_history_suggestions(chat, query, words(asked))],
        key=lambda s: (-s.score, s.source != "canned"),
    )
    picked: list[Suggestion] = []
    seen: set[str] = set()
    for suggestion in ranked:
        key = " ".join(suggestion.text.lower().split())
        if suggestion.score <= 0 or key in seen:
            continue
        seen.add(key)
        picked.append(suggestion)
        if len(picked) == limit:
            break
    return picked


class ProviderError(Exception):
    pass


def _provider_request(path: str, payload: dict | None = None, *, timeout: float) -> dict:
    url = settings.AI_BASE_URL.rstrip("/") + path
    if not url.startswith(("https://", "http://")):
        raise ProviderError("AI_BASE_URL must be an http(s) URL.")
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
        url,
        data=json.dumps(payload).encode() if payload is not None else None,
        headers={
            "Authorization": f"Bearer {settings.AI_API_KEY}",
            "Content-Type": "application/json",
        },
        method="POST" if payload is not None else "GET",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return json.loads(response.read().decode())
    except (urllib.error.URLError, TimeoutError, ValueError, OSError) as exc:
        raise ProviderError(f"{type(exc).__name__}: {exc}") from exc


def ai_suggestions(chat: Chat, recent: list[Message], *, limit: int) -> list[Suggestion]:
    transcript = [
        {
            "role": "user" if m.sender_id == chat.customer_id else "assistant",
            "content": m.text,
        }
        for m in recent
        if m.text
    ]
    if not transcript:
        return []
    body = {
        "model": settings.AI_MODEL,
        "temperature": 0.4,
        "messages": [
            {
                "role": "system",
                "content": (
                    f"You help a support operator of {chat.organization.name} answer the "
                    f"customer. Suggest {limit} short, different replies the operator could "
                    "send next. Answer with a JSON array of strings only."
                ),
            },
            *transcript,
        ],
    }
    data = _provider_request("/chat/completions", body, timeout=settings.AI_TIMEOUT_SECONDS)
    try:
        content = data["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError) as exc:
        raise ProviderError("Unexpected response shape.") from exc
    try:
        texts = json.loads(content.strip().removeprefix("```json").strip("`\n "))
    except ValueError:
        texts = [line.strip("-*• ").strip() for line in content.splitlines()]
    if not isinstance(texts, list):
        raise ProviderError("The provider did not answer with a list.")
    replies = [str(t).strip() for t in texts if str(t).strip()][:limit]
    return [Suggestion(text, "ai", round(1 - i / (limit + 1), 3)) for i, text in enumerate(replies)]


def suggestions_for(*, chat: Chat, limit: int) -> dict:
    """``{"engine": "ai" | "local", "suggestions": [...]}`` for a support chat (the caller
    checked that the viewer is staff who may read it)."""
    recent = _recent_messages(chat)
    if settings.AI_API_KEY:
        try:
            found = ai_suggestions(chat, recent, limit=limit)
        except ProviderError as exc:
            logger.warning("AI suggestions failed, using the local engine: %s", exc)
        else:
            return {"engine": "ai", "suggestions": [s.as_dict() for s in found]}
    found = local_suggestions(chat, recent, limit=limit)
    return {"engine": "local", "suggestions": [s.as_dict() for s in found]}


def ai_health() -> dict:
    if not settings.AI_API_KEY:
        return {"provider": "local", "status": "ok"}
    base = {"provider": "openai_compatible", "base_url": settings.AI_BASE_URL}
    base["model"] = settings.AI_MODEL
    try:
        _provider_request("/models", timeout=min(settings.AI_TIMEOUT_SECONDS, 3.0))
    except ProviderError as exc:
        return {**base, "status": "down", "detail": str(exc)[:300]}
    return {**base, "status": "ok"}
