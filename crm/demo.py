"""Demo data for a first look: the Demo Shop organization with an admin, two online operators,
canned responses, and customers with real conversations over the last days — unassigned ones
in the mobile app inbox, assigned, pending and closed ones, one with a photo, one with orders,
one with a staff note.

Everything is written through the services (so counters, unread counts, first responses, audit
rows and system lines are what the product makes); afterwards the rows each step created get
that step's time, in one UPDATE per table, so ids stay in time order.

Idempotent: running it again finds what exists and creates only what is missing.
A second organization, ``demo-ru`` (crm/demo_ru.py), tells the same story in Russian.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Case, F, Max, Model, Value, When
from django.utils import timezone

from accounts.models import Organization, Role, User
from accounts.services import user_create, user_groups_sync
from chats.models import Chat, ChatStatus, Inbox, InboxKind, Message, MessageKind
from chats.selectors import web_inbox_for
from chats.services import chat_mark_read, inbox_create, message_send, support_chat_get_or_create
from media.models import MediaFile
from operators import services as operators
from operators.models import AuditEvent, Availability, CannedResponse, OperatorProfile
from orders.models import Order, OrderEvent, OrderStatus
from orders.services import order_create, order_status_change

DEMO_ORGANIZATION = ("demo", "Demo Shop")
APP_INBOX = "Mobile app"


@dataclass(frozen=True)
class DemoLogin:
    role: str
    email: str
    password: str
    name: str


DEMO_CANNED_RESPONSES = [
    ("hello", "Hello! Thanks for writing to Demo Shop. How can I help you today?"),
    ("order-status", "Let me check the status of your order. Could you send me its number?"),
    ("delivery", "Delivery usually takes 2 to 4 business days after the order ships."),
    ("refund", "I'm sorry about that. I've started a refund; it reaches your card in 5-7 days."),
    ("bye", "Glad I could help! Write any time if you have more questions."),
]

CUSTOMER_PASSWORD = "demo-customer-2025"  # noqa: S105 (printed demo login)
DEMO_USERS = [
    DemoLogin(Role.ADMIN, "admin@demo.example.com", "demo-admin-2025", "Alice Admin"),
    DemoLogin(Role.SENIOR_OPERATOR, "olga@demo.example.com", "demo-operator-2025", "Olga Senior"),
    DemoLogin(Role.OPERATOR, "oscar@demo.example.com", "demo-operator-2025", "Oscar Operator"),
    DemoLogin(Role.CUSTOMER, "customer@demo.example.com", CUSTOMER_PASSWORD, "Carl Customer"),
    DemoLogin(Role.CUSTOMER, "dana@demo.example.com", CUSTOMER_PASSWORD, "Dana Novak"),
    DemoLogin(Role.CUSTOMER, "erik@demo.example.com", CUSTOMER_PASSWORD, "Erik Larsen"),
    DemoLogin(Role.CUSTOMER, "fiona@demo.example.com", CUSTOMER_PASSWORD, "Fiona Brandt"),
    DemoLogin(Role.CUSTOMER, "ivan@demo.example.com", CUSTOMER_PASSWORD, "Ivan Petrov"),
    DemoLogin(Role.CUSTOMER, "gus@demo.example.com", CUSTOMER_PASSWORD, "Gus Meyer"),
    DemoLogin(Role.CUSTOMER, "hana@demo.example.com", CUSTOMER_PASSWORD, "Hana Sato"),
]

# (title, [(item, quantity, unit price)], status steps after creation), in EUR.
DEMO_ORDERS = [
    (
        "Espresso machine with descaler",
        [("Espresso machine Classic", "1", "349.00"), ("Descaler 500 ml", "2", "9.90")],
        [OrderStatus.CONFIRMED, OrderStatus.IN_PROGRESS],
    ),
    ("Coffee beans, monthly", [("Coffee beans 1 kg", "3", "18.50")], []),
]


def ago(days: int = 0, hours: int = 0, minutes: int = 0) -> timedelta:
    return timedelta(days=days, hours=hours, minutes=minutes)


@dataclass(frozen=True)
class Step:
    """Something that happens in a conversation ``before`` now: ``who`` (a login's first name)
    says, notes, attaches a photo, reads, or manages the chat (``do``)."""

    before: timedelta
    who: str
    do: str = "say"
    text: str = ""


@dataclass
class Conversation:
    customer: str  # the customer's email
    steps: list[Step]
    inbox: str = "web"
    chat: Chat | None = field(default=None, repr=False)  # set while seeding
    inbox_obj: Inbox | None = field(default=None, repr=False)


CONVERSATIONS = [
    Conversation(  # orders, assigned to Olga, a question waiting for her
        "customer@demo.example.com",
        [
            Step(
                ago(2, 3, 10),
                "carl",
                text="Hi! I'd like the Classic espresso machine and "
                "some descaler. Can you set up the order for me?",
            ),
            Step(ago(2, 3, 8), "alice", "assign:olga"),
            Step(ago(2, 3, 2), "olga", text="Hello Carl! Of course, one moment please."),
            Step(ago(2, 3, 0), "olga", "order:0"),
            Step(
                ago(2, 2, 58),
                "olga",
                text="Done: you'll find order #1001 under Orders in your cabinet.",
            ),
            Step(ago(2, 2, 50), "carl", "read"),
            Step(
                ago(2, 2, 49),
                "carl",
                text="Great, thanks! Could you add a monthly coffee "
                "beans subscription too? Three bags, please.",
            ),
            Step(ago(2, 2, 40), "olga", "order:1"),
            Step(ago(2, 2, 39), "olga", text="Added as order #1002. Anything else?"),
            Step(ago(2, 2, 30), "carl", "read"),
            Step(ago(1, 20, 0), "olga", "order-status:0:confirmed"),
            Step(ago(1, 2, 0), "olga", "order-status:0:in_progress"),
            Step(
                ago(1, 1, 55),
                "olga",
                text="Your espresso machine is being packed and should ship tomorrow.",
            ),
            Step(ago(0, 3, 5), "carl", "read"),
            Step(ago(0, 3, 0), "carl", text="Any tracking number yet?"),
        ],
    ),
    Conversation(  # a photo, a staff note, high priority, answered by Oscar
        "dana@demo.example.com",
        [
            Step(
                ago(1, 5, 0),
                "dana",
                "photo",
                "My grinder arrived with a cracked lid, see the photo.",
            ),
            Step(ago(1, 4, 55), "olga", "assign:oscar"),
            Step(ago(1, 4, 50), "oscar", "read"),
            Step(
                ago(1, 4, 48),
                "oscar",
                text="I'm so sorry about that, Dana. Let me check what we can do.",
            ),
            Step(
                ago(1, 4, 45),
                "oscar",
                "note",
                "Courier damage again: second case this week. "
                "Asked the warehouse for a replacement lid.",
            ),
            Step(ago(1, 4, 44), "olga", "priority:high"),
            Step(
                ago(1, 3, 10),
                "oscar",
                text="A replacement lid ships tomorrow; no need to send the grinder back.",
            ),
            Step(ago(1, 2, 30), "dana", "read"),
            Step(ago(1, 2, 29), "dana", text="Perfect, thank you!"),
            Step(ago(1, 2, 0), "oscar", "read"),
        ],
    ),
    Conversation(  # pending: waiting for the customer's answer
        "erik@demo.example.com",
        [
            Step(ago(0, 20, 15), "erik", text="Can I change the delivery address of my order?"),
            Step(ago(0, 20, 5), "alice", "assign:olga"),
            Step(ago(0, 19, 58), "olga", "read"),
            Step(
                ago(0, 19, 57),
                "olga",
                text="Sure! Which address should we use? Please send it with the postcode.",
            ),
            Step(ago(0, 19, 56), "olga", "status:pending"),
        ],
    ),
    Conversation(  # closed, resolved with a canned reply
        "fiona@demo.example.com",
        [
            Step(ago(3, 2, 0), "fiona", text="Do you ship to Austria?"),
            Step(ago(3, 1, 58), "olga", "assign:oscar"),
            Step(
                ago(3, 1, 55),
                "oscar",
                text="Yes, we do: delivery to Austria takes 3 to 5 business days.",
            ),
            Step(ago(3, 1, 41), "fiona", "read"),
            Step(ago(3, 1, 40), "fiona", text="Thanks, that's all I needed."),
            Step(ago(3, 1, 38), "oscar", "canned:bye"),
            Step(ago(3, 1, 36), "oscar", "status:closed"),
            Step(ago(3, 1, 30), "fiona", "read"),
        ],
    ),
    Conversation(  # assigned to Oscar, the customer's follow-up still unread
        "ivan@demo.example.com",
        [
            Step(ago(0, 2, 30), "ivan", text="Which descaler works with the Classic machine?"),
            Step(ago(0, 2, 28), "olga", "assign:oscar"),
            Step(ago(0, 2, 21), "oscar", "read"),
            Step(ago(0, 2, 20), "oscar", text="Our Descaler 500 ml: one cycle every two months."),
            Step(ago(0, 0, 26), "ivan", "read"),
            Step(ago(0, 0, 25), "ivan", text="And how much of it per cycle?"),
        ],
    ),
    Conversation(  # unassigned, in the mobile app inbox (no auto-assignment there)
        "gus@demo.example.com",
        [
            Step(
                ago(0, 0, 45), "gus", text="Hello, the app won't let me sign in since the update."
            ),
            Step(ago(0, 0, 44), "gus", text='I reinstalled it: same error, "session expired".'),
        ],
        inbox="app",
    ),
    Conversation(  # unassigned and urgent
        "hana@demo.example.com",
        [
            Step(
                ago(0, 0, 12),
                "hana",
                text="Hi, I was charged twice for my last purchase. Can someone help?",
            ),
            Step(ago(0, 0, 10), "alice", "priority:urgent"),
        ],
        inbox="app",
    ),
]


@dataclass(frozen=True)
class DemoSpec:
    """One demo organization: who works and shops there and what they said, in its language."""

    slug: str
    name: str
    language: str
    domain: str  # of the logins' emails
    app_inbox: str
    currency: str
    users: list[DemoLogin]
    canned_responses: list[tuple[str, str]]
    orders: list
    conversations: list[Conversation]


ENGLISH = DemoSpec(
    slug=DEMO_ORGANIZATION[0],
    name=DEMO_ORGANIZATION[1],
    language="en",
    domain="demo.example.com",
    app_inbox=APP_INBOX,
    currency="EUR",
    users=DEMO_USERS,
    canned_responses=DEMO_CANNED_RESPONSES,
    orders=DEMO_ORDERS,
    conversations=CONVERSATIONS,
)


def demo_specs() -> list[DemoSpec]:
    from crm.demo_ru import SPEC as RUSSIAN

    return [ENGLISH, RUSSIAN]


@transaction.atomic
def seed_demo(spec: DemoSpec = ENGLISH) -> tuple[Organization, list[DemoLogin]]:
    slug, name = spec.slug, spec.name
    organization, _ = Organization.objects.get_or_create(
        slug=slug, defaults={"name": name, "language": spec.language}
    )
    if organization.name == slug.replace("-", " ").title():  # made by migrate as the default
        organization.name = name
        organization.save(update_fields=["name"])
    users = {login.email: _demo_user(organization, login) for login in spec.users}
    for shortcut, text in spec.canned_responses:
        CannedResponse.objects.get_or_create(
            organization=organization, shortcut=shortcut, defaults={"text": text}
        )
    admin = users[f"admin@{spec.domain}"]
    app_inbox = Inbox.objects.filter(organization=organization, name=spec.app_inbox).first()
    if app_inbox is None:
        app_inbox, _ = inbox_create(
            actor=admin, kind=InboxKind.API, name=spec.app_inbox, auto_assign=False
        )
    _seed_conversations(organization, users, app_inbox, spec)
    return organization, spec.users


def _demo_user(organization: Organization, login: DemoLogin) -> User:
    user = User.objects.filter(organization=organization, email__iexact=login.email).first()
    if user is None:
        user = user_create(
            organization=organization,
            email=login.email,
            name=login.name,
            role=login.role,
            password=login.password,
        )
    elif not user.check_password(login.password):
        user.set_password(login.password)
        user.save(update_fields=["password"])
    user_groups_sync(user)
    if user.role in (Role.SENIOR_OPERATOR, Role.OPERATOR):
        # Online, so new web chats are assigned at once.
        OperatorProfile.objects.get_or_create(
            user=user, defaults={"availability": Availability.ONLINE, "capacity": 5}
        )
    return user


# --- Conversations, in time order ------------------------------------------------------------


STAMPED: list[tuple[type[Model], tuple[str, ...]]] = [
    (Message, ("created_at",)),
    (AuditEvent, ("at",)),
    (Order, ("created_at", "updated_at")),
    (OrderEvent, ("created_at",)),
    (MediaFile, ("created_at", "attached_at")),
]
CHAT_TIMES = ("assigned_at", "first_response_at", "closed_at")


def _seed_conversations(
    organization: Organization, users: dict[str, User], app_inbox, spec: DemoSpec
) -> None:
    by_name = {u.name.split()[0].lower(): u for u in users.values()}
    web_inbox = web_inbox_for(organization=organization.pk)
    conversations = [replace(c) for c in spec.conversations]  # this run's state, not the module's
    todo = []
    for conversation in conversations:
        customer = users[conversation.customer]
        inbox = app_inbox if conversation.inbox == "app" else web_inbox
        if Message.objects.filter(chat__inbox=inbox, sender=customer).exists():
            continue  # seeded before
        conversation.inbox_obj = inbox
        todo += [(step, conversation) for step in conversation.steps]
    if not todo:
        return
    now = timezone.now()
    todo.sort(key=lambda pair: -pair[0].before)  # oldest first: ids follow time
    stamps: dict[type[Model], dict[int, datetime]] = {model: {} for model, _ in STAMPED}
    chat_times: dict[int, dict[str, datetime]] = {}
    first_seen: dict[int, datetime] = {}
    for step, conversation in todo:
        at = now - step.before
        before_ids = {model: _max_id(model) for model, _ in STAMPED}
        if conversation.chat is None:  # the first message opens it (and auto-assigns it)
            conversation.chat, _ = support_chat_get_or_create(
                customer=users[conversation.customer], inbox=conversation.inbox_obj
            )
            before = dict.fromkeys(CHAT_TIMES)
        else:
            before = Chat.objects.values(*CHAT_TIMES).get(pk=conversation.chat.pk)
        chat = conversation.chat
        first_seen.setdefault(chat.pk, at)
        _perform(step, chat, by_name[step.who], organization, spec)
        for model, _ in STAMPED:
            new = model.objects.filter(pk__gt=before_ids[model]).order_by("pk")
            for n, pk in enumerate(new.values_list("pk", flat=True)):
                stamps[model][pk] = at + timedelta(milliseconds=n)
        after = Chat.objects.values(*CHAT_TIMES).get(pk=chat.pk)
        for name in CHAT_TIMES:
            if after[name] is not None and after[name] != before[name]:
                chat_times.setdefault(chat.pk, {})[name] = at
    for model, fields in STAMPED:
        _stamp(model, fields, stamps[model])
    _stamp_chats(first_seen, chat_times)
    _stamp(
        User,
        ("date_joined",),
        {
            users[c.customer].pk: first_seen[c.chat.pk] - ago(days=7)
            for c in conversations
            if c.chat is not None
        },
    )


def _max_id(model: type[Model]) -> int:
    return model.objects.aggregate(m=Max("pk"))["m"] or 0


def _perform(
    step: Step, chat: Chat, actor: User, organization: Organization, spec: DemoSpec
) -> None:
    action, _, arg = step.do.partition(":")
    perform: dict[str, Callable[[], object]] = {
        "say": lambda: message_send(sender=actor, chat=chat, text=step.text),
        "note": lambda: message_send(
            sender=actor, chat=chat, text=step.text, kind=MessageKind.NOTE
        ),
        "photo": lambda: _send_photo(actor, chat, step.text),
        "canned": lambda: message_send(
            sender=actor,
            chat=chat,
            text=CannedResponse.objects.get(organization=organization, shortcut=arg).text,
        ),
        "read": lambda: chat_mark_read(user=actor, chat=chat),
        "assign": lambda: operators.chat_assign(
            actor=actor,
            chat=chat,
            operator_id=User.objects.get(
                organization=organization, email=f"{arg}@{spec.domain}"
            ).pk,
        ),
        "status": lambda: operators.chat_update_support_fields(
            actor=actor, chat=chat, status=ChatStatus(arg)
        ),
        "priority": lambda: operators.chat_set_priority(actor=actor, chat=chat, priority=arg),
        "order": lambda: _create_order(actor, chat, int(arg), spec),
        "order-status": lambda: _order_status(actor, chat, arg, spec),
    }
    perform[action]()


def _create_order(actor: User, chat: Chat, index: int, spec: DemoSpec) -> None:
    title, items, _ = spec.orders[index]
    if Order.objects.filter(customer=chat.customer, title=title).exists():
        return
    order_create(
        actor=actor,
        customer_id=chat.customer_id,
        chat_id=chat.pk,
        title=title,
        currency=spec.currency,
        items=[{"name": n, "quantity": q, "unit_price": p} for n, q, p in items],
    )


def _order_status(actor: User, chat: Chat, arg: str, spec: DemoSpec) -> None:
    index, status = arg.split(":")
    title = spec.orders[int(index)][0]
    order = Order.objects.get(customer=chat.customer, title=title)
    if order.status != status:
        order_status_change(actor=actor, order=order, status=status)


def _send_photo(customer: User, chat: Chat, text: str) -> None:
    from media.services import media_create

    media = media_create(
        organization=chat.organization,
        content=ContentFile(demo_photo(), name="cracked-lid.png"),
        name="cracked-lid.png",
        uploader=customer,
        chat=chat,
    )
    message_send(
        sender=customer, chat=chat, text=text, kind=MessageKind.IMAGE, attachment_ids=[media.pk]
    )


def demo_photo() -> bytes:
    """A small real PNG: a parcel with a crack across its lid."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (480, 320), (236, 240, 244))
    draw = ImageDraw.Draw(image)
    draw.rectangle((90, 110, 390, 280), fill=(196, 150, 98), outline=(120, 84, 48), width=4)
    draw.polygon([(90, 110), (150, 60), (450, 60), (390, 110)], fill=(214, 170, 118))
    draw.line([(150, 60), (450, 60), (450, 230), (390, 280)], fill=(120, 84, 48), width=4)
    draw.line([(200, 70), (240, 90), (225, 100), (270, 108)], fill=(40, 30, 20), width=5)
    draw.rectangle((215, 150, 265, 200), fill=(250, 250, 250), outline=(120, 84, 48), width=2)
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return out.getvalue()


def _stamp(model: type[Model], fields: tuple[str, ...], times: dict[int, datetime]) -> None:
    """One UPDATE: each row gets its time (a field left empty, like ``attached_at``, stays)."""
    if not times:
        return
    updates = {}
    for name in fields:
        keep_empty = {f"{name}__isnull": False} if model._meta.get_field(name).null else {}
        updates[name] = Case(
            *(When(pk=pk, **keep_empty, then=Value(at)) for pk, at in times.items()),
            default=F(name),
        )
    model.objects.filter(pk__in=list(times)).update(**updates)


def _stamp_chats(first_seen: dict[int, datetime], chat_times: dict[int, dict]) -> None:
    """One UPDATE of the chats: created just before their first step, last activity and last
    message at their messages' (new) times, assignment, first response and closing at the
    steps that made them."""
    chats = list(Chat.objects.filter(pk__in=list(first_seen)))
    message_times = dict(Message.objects.filter(chat__in=chats).values_list("pk", "created_at"))
    last_times = {
        row["chat_id"]: row["last"]
        for row in Message.objects.filter(chat__in=chats)
        .values("chat_id")
        .annotate(last=Max("created_at"))
    }
    values: dict[str, dict[int, datetime]] = {
        "created_at": {c.pk: first_seen[c.pk] - timedelta(seconds=20) for c in chats},
        "last_activity_at": {c.pk: last_times[c.pk] for c in chats if c.pk in last_times},
        "last_message_at": {
            c.pk: message_times[c.last_message_id] for c in chats if c.last_message_id
        },
    }
    for name in CHAT_TIMES:
        values[name] = {pk: t[name] for pk, t in chat_times.items() if name in t}
    Chat.objects.filter(pk__in=[c.pk for c in chats]).update(
        **{
            name: Case(*(When(pk=pk, then=Value(at)) for pk, at in times.items()), default=F(name))
            for name, times in values.items()
            if times
        }
    )
