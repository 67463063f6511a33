"""The back office goes through the services, like the API: deactivation ends tokens and
sockets, passwords follow the validators, inboxes write audit rows and show generated secrets
once, attachments are visible, another organization sees and changes nothing, and every
changelist costs the same number of queries for 5 rows as for 50."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.admin import ModelAdmin
from django.core.files.base import ContentFile
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.models import Role, User
from accounts.services import tokens_for
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from chats.models import Chat, Inbox, InboxKind, Message
from chats.services import message_send
from chats.tests.factories import InboxFactory, ProjectFactory, support_chat
from chats.tests.realtime_fixtures import *  # noqa: F403 (fixtures)
from chats.tests.realtime_fixtures import sync
from crm.tenancy import TenantAdmin
from media.services import media_create
from media.tests.samples import pdf, png
from operators.models import AuditEvent
from operators.services import audit_record
from operators.tests.factories import CannedResponseFactory, OperatorProfileFactory
from orders.tests.factories import make_order

OWN_APPS = ("accounts", "chats", "operators", "orders", "media")


def signed_in(client, user):
    assert client.login(username=user.email, password=DEFAULT_PASSWORD)
    return client


def user_form(user: User, **changes) -> dict:
    data = {"name": user.name, "role": user.role, "is_active": "on" if user.is_active else ""}
    data.update(changes)
    return {k: v for k, v in data.items() if v != ""}


# --- Users ----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_deactivating_in_the_admin_closes_sockets_and_refuses_tokens(
    ws, client, admin_user, operator
):
    tokens = await sync(tokens_for)(operator)
    socket = await ws(operator)
    signed_in_client = await sync(signed_in)(client, admin_user)

    response = await sync(signed_in_client.post)(
        f"/admin/accounts/user/{operator.pk}/change/", user_form(operator, is_active="")
    )
    assert response.status_code == 302, response.content.decode()[:3000]

    closed = await socket.receive_output(timeout=2)
    while closed["type"] != "websocket.close":
        closed = await socket.receive_output(timeout=2)
    assert closed["code"] == 4401
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    assert (await sync(api.get)("/api/auth/me")).status_code == 401
    refreshed = await sync(APIClient().post)(
        "/api/auth/refresh", {"refresh": tokens["refresh"]}, format="json"
    )
    assert refreshed.status_code == 401
    assert not (await sync(User.objects.get)(pk=operator.pk)).is_active


@pytest.mark.django_db
def test_weak_password_in_the_add_form_is_refused_and_no_user_is_created(client, admin_user):
    response = signed_in(client, admin_user).post(
        "/admin/accounts/user/add/",
        {"email": "weak@example.com", "name": "Weak", "role": "operator", "password": "123"},
    )
    assert response.status_code == 200
    content = response.content.decode()
    assert "This password is too short" in content
    assert "This password is entirely numeric" in content
    assert not User.objects.filter(email="weak@example.com").exists()


@pytest.mark.django_db
def test_added_user_goes_through_the_service(client, admin_user):
    response = signed_in(client, admin_user).post(
        "/admin/accounts/user/add/",
        {
            "email": "Senior.New@Example.com",
            "name": "Senior New",
            "role": "senior_operator",
            "password": "a-Long-pass-77",
        },
    )
    assert response.status_code == 302
    user = User.objects.get(email="senior.new@example.com")  # normalized like the API does
    assert not user.is_active  # the box was left unticked
    assert user.check_password("a-Long-pass-77")
    assert list(user.groups.values_list("name", flat=True)) == ["senior_operator"]


@pytest.mark.django_db
def test_role_change_syncs_groups_and_self_deactivation_is_refused(client, admin_user, operator):
    client = signed_in(client, admin_user)
    response = client.post(
        f"/admin/accounts/user/{operator.pk}/change/", user_form(operator, role="senior_operator")
    )
    assert response.status_code == 302
    assert list(operator.groups.values_list("name", flat=True)) == ["senior_operator"]

    response = client.post(
        f"/admin/accounts/user/{admin_user.pk}/change/",
        user_form(admin_user, is_active=""),
        follow=True,
    )
    assert "You cannot deactivate yourself" in response.content.decode()
    admin_user.refresh_from_db()
    assert admin_user.is_active


@pytest.mark.django_db
def test_setting_a_password_follows_the_rules_and_ends_sessions(client, admin_user, operator):
    tokens = tokens_for(operator)
    client = signed_in(client, admin_user)
    url = f"/admin/accounts/user/{operator.pk}/password/"
    weak = client.post(url, {"password1": "abc", "password2": "abc", "usable_password": "true"})
    assert weak.status_code == 200 and "This password is too short" in weak.content.decode()
    operator.refresh_from_db()
    assert operator.check_password(DEFAULT_PASSWORD)

    strong = "Another-long-pass-91"
    response = client.post(url, {"password1": strong, "password2": strong})
    assert response.status_code == 302
    operator.refresh_from_db()
    assert operator.check_password(strong)
    refreshed = APIClient().post("/api/auth/refresh", {"refresh": tokens["refresh"]}, format="json")
    assert refreshed.status_code == 401


@pytest.mark.django_db
def test_deactivate_action_goes_through_the_service(client, admin_user, operator):
    tokens = tokens_for(operator)
    response = signed_in(client, admin_user).post(
        "/admin/accounts/user/",
        {"action": "deactivate_users", "_selected_action": [operator.pk, admin_user.pk]},
        follow=True,
    )
    assert "Deactivated 1 user." in response.content.decode()
    assert "You cannot deactivate yourself" in response.content.decode()
    operator.refresh_from_db()
    admin_user.refresh_from_db()
    assert not operator.is_active and admin_user.is_active
    refreshed = APIClient().post("/api/auth/refresh", {"refresh": tokens["refresh"]}, format="json")
    assert refreshed.status_code == 401


# --- Inboxes --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_inbox_added_in_the_admin_is_audited_and_shows_its_generated_secret_once(
    client, admin_user
):
    client = signed_in(client, admin_user)
    response = client.post(
        "/admin/chats/inbox/add/",
        {
            "name": "Support bot",
            "kind": "telegram",
            "auto_assign": "on",
            "is_active": "on",
            "bot_token": "123456789:AAbot-token-0123456789abcdef",
        },
        follow=True,
    )
    assert response.status_code == 200
    inbox = Inbox.objects.get(name="Support bot")
    assert inbox.webhook_secret and inbox.bot_token == "123456789:AAbot-token-0123456789abcdef"
    assert inbox.webhook_secret in response.content.decode()
    assert "shown only this once" in response.content.decode()
    audit = AuditEvent.objects.get(verb="inbox.created")
    assert audit.actor == admin_user and audit.target_id == str(inbox.pk)

    change_page = client.get(f"/admin/chats/inbox/{inbox.pk}/change/").content.decode()
    assert (
        inbox.webhook_secret not in change_page
        and "123456789:AAbot-token-0123456789abcdef" not in change_page
    )
    assert inbox.webhook_secret not in client.get("/admin/chats/inbox/").content.decode()


@pytest.mark.django_db
def test_inbox_change_keeps_secrets_left_empty_and_audits_what_changed(client, admin_user):
    inbox = InboxFactory(
        organization=admin_user.organization,
        kind=InboxKind.TELEGRAM,
        bot_token="123456789:AAold-token-0123456789abcdef",
    )
    client = signed_in(client, admin_user)
    response = client.post(
        f"/admin/chats/inbox/{inbox.pk}/change/",
        {"name": "Renamed", "is_active": "on", "bot_token": ""},
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    inbox.refresh_from_db()
    assert (
        inbox.name == "Renamed"
        and inbox.bot_token == "123456789:AAold-token-0123456789abcdef"
        and not inbox.auto_assign
    )
    audit = AuditEvent.objects.get(verb="inbox.updated")
    assert audit.data == {"changed": ["auto_assign", "name"]}


@pytest.mark.django_db
def test_incomplete_inbox_is_refused_on_the_form(client, admin_user):
    response = signed_in(client, admin_user).post(
        "/admin/chats/inbox/add/", {"name": "No token", "kind": "telegram", "is_active": "on"}
    )
    assert response.status_code == 200
    assert "This field is required for this kind of inbox." in response.content.decode()
    assert not Inbox.objects.filter(name="No token").exists()


@pytest.mark.django_db
def test_inboxes_in_use_are_not_deleted_from_the_admin(client, admin_user, customer):
    chat = support_chat(customer)
    client = signed_in(client, admin_user)
    web = client.post(f"/admin/chats/inbox/{chat.inbox_id}/delete/", {"post": "yes"})
    assert web.status_code == 403
    telegram = InboxFactory(organization=admin_user.organization, kind=InboxKind.TELEGRAM)
    Chat.objects.filter(pk=chat.pk).update(inbox=telegram)
    response = client.post(f"/admin/chats/inbox/{telegram.pk}/delete/", {"post": "yes"})
    assert response.status_code == 200 and "Cannot delete inbox" in response.content.decode()
    assert Inbox.objects.filter(pk__in=[chat.inbox_id, telegram.pk]).count() == 2
    assert not AuditEvent.objects.filter(verb="inbox.deleted").exists()

    unused = InboxFactory(organization=admin_user.organization, kind=InboxKind.API)
    response = client.post(f"/admin/chats/inbox/{unused.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Inbox.objects.filter(pk=unused.pk).exists()
    assert AuditEvent.objects.get(verb="inbox.deleted").target_repr == str(unused)


# --- Chats, messages, attachments ------------------------------------------------------------


@pytest.mark.django_db
def test_chat_rows_open_the_conversation_and_renames_go_through_the_service(
    client, admin_user, customer
):
    chat = support_chat(customer)
    client = signed_in(client, admin_user)
    content = client.get("/admin/chats/chat/").content.decode()
    assert f'href="/admin/inbox/{chat.pk}/"' in content
    change_page = client.get(f"/admin/chats/chat/{chat.pk}/change/").content.decode()
    assert f'href="/admin/inbox/{chat.pk}/" class="button">Open the conversation' in change_page
    inline = {"messages-TOTAL_FORMS": "0", "messages-INITIAL_FORMS": "0"}
    response = client.post(
        f"/admin/chats/chat/{chat.pk}/change/", {"name": "VIP customer", **inline}
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    chat.refresh_from_db()
    assert chat.name == "VIP customer"
    assert client.post(f"/admin/chats/chat/{chat.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Chat.objects.filter(pk=chat.pk).exists()


def _message_with_attachments(customer) -> tuple[Message, object, object]:
    chat = support_chat(customer)
    image = media_create(
        organization=customer.organization,
        content=ContentFile(png(size=(64, 48)), name="photo.png"),
        name="photo.png",
        uploader=customer,
        chat=chat,
    )
    document = media_create(
        organization=customer.organization,
        content=ContentFile(pdf(), name="invoice.pdf"),
        name="invoice.pdf",
        uploader=customer,
        chat=chat,
    )
    sent = message_send(
        sender=customer, chat=chat, text="see attached", attachment_ids=[image.pk, document.pk]
    )
    return sent.message, image, document


@pytest.mark.django_db
def test_message_inline_and_detail_show_attachments(client, admin_user, customer):
    message, image, document = _message_with_attachments(customer)
    client = signed_in(client, admin_user)
    for url in (
        f"/admin/chats/chat/{message.chat_id}/change/",
        f"/admin/chats/message/{message.pk}/change/",
    ):
        content = client.get(url).content.decode()
        assert f'src="/api/media/{image.pk}/download?thumbnail=1"' in content, url
        assert f'href="/api/media/{document.pk}/download">invoice.pdf</a>' in content, url
        assert f"{document.size}\xa0bytes" in content or "KB" in content, url
    assert client.get(f"/api/media/{image.pk}/download?thumbnail=1").status_code in (200, 302)


# --- Other organizations ---------------------------------------------------------------------


def _objects_of(organization) -> dict[str, object]:
    staff = UserFactory(organization=organization, role=Role.OPERATOR)
    customer = UserFactory(organization=organization, role=Role.CUSTOMER)
    chat = support_chat(customer)
    message, image, _ = _message_with_attachments(customer)
    return {
        "accounts/user": staff,
        "chats/inbox": InboxFactory(organization=organization, kind=InboxKind.API, name="Theirs"),
        "chats/chat": chat,
        "chats/message": message,
        "chats/project": ProjectFactory(organization=organization, name="Their project"),
        "operators/operatorprofile": OperatorProfileFactory(user=staff, capacity=3),
        "operators/cannedresponse": CannedResponseFactory(
            organization=organization, shortcut="theirs", text="Their text"
        ),
        "orders/order": make_order(customer=customer, title="Their order"),
        "media/mediafile": image,
    }


@pytest.mark.django_db
def test_another_organizations_admin_sees_and_changes_nothing(client, organization, other_admin):
    objects = _objects_of(organization)
    before = {path: _snapshot(obj) for path, obj in objects.items()}
    client = signed_in(client, other_admin)
    for path, obj in objects.items():
        changelist = client.get(f"/admin/{path}/").content.decode()
        assert f"/admin/{path}/{obj.pk}/change/" not in changelist, path
        for suffix in ("change/", "delete/", "history/"):
            response = client.get(f"/admin/{path}/{obj.pk}/{suffix}")
            assert response.status_code in (302, 403, 404), (path, suffix)
        client.post(f"/admin/{path}/{obj.pk}/change/", {"name": "hacked", "text": "hacked"})
        client.post(f"/admin/{path}/{obj.pk}/delete/", {"post": "yes"})
        client.post(
            f"/admin/{path}/",
            {"action": "delete_selected", "_selected_action": [obj.pk], "post": "yes"},
        )
    for path, action in (
        ("accounts/user", "deactivate_users"),
        ("chats/chat", "close_chats"),
        ("chats/chat", "assign_to_me"),
        ("chats/message", "soft_delete"),
        ("orders/order", "mark_cancelled"),
        ("media/mediafile", "retry_remote_upload"),
    ):
        client.post(f"/admin/{path}/", {"action": action, "_selected_action": [objects[path].pk]})
    user = objects["accounts/user"]
    response = client.post(f"/admin/accounts/user/{user.pk}/password/", {"password1": "x"})
    assert response.status_code in (302, 403, 404)
    after = {path: _snapshot(obj) for path, obj in objects.items()}
    assert after == before


def _snapshot(obj) -> dict | None:
    row = type(obj).objects.filter(pk=obj.pk).values().first()
    return row


# --- Every write path of the back office is a service ----------------------------------------


@pytest.mark.django_db
def test_every_admin_that_writes_does_it_through_services(admin_user):
    request = RequestFactory().get("/admin/")
    request.user = admin_user
    checked = []
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label not in OWN_APPS:
            continue
        checked.append(model.__name__)
        cls = type(model_admin)
        saves = model_admin.has_add_permission(request) or model_admin.has_change_permission(
            request
        )
        if saves and "save_model" in _inherited_only(cls):
            pytest.fail(f"{cls.__name__} saves models directly")
        if model_admin.has_delete_permission(request) and (
            {"delete_model", "delete_queryset"} & _inherited_only(cls)
        ):
            pytest.fail(f"{cls.__name__} deletes models directly")
    assert {"User", "Inbox", "Chat", "Message", "Order", "MediaFile"} <= set(checked)


def _inherited_only(cls) -> set[str]:
    """The write hooks that ``cls`` takes unchanged from Django (or the tenant base)."""
    defaults = {
        "save_model": (ModelAdmin.save_model, TenantAdmin.save_model),
        "delete_model": (ModelAdmin.delete_model,),
        "delete_queryset": (ModelAdmin.delete_queryset,),
    }
    return {name for name, originals in defaults.items() if getattr(cls, name) in originals}


# --- Query budgets ----------------------------------------------------------------------------


def _rows(kind: str, organization, n: int) -> None:
    for i in range(n):
        customer = UserFactory(organization=organization, role=Role.CUSTOMER)
        if kind == "chats/inbox":
            InboxFactory(organization=organization, kind=InboxKind.API, name=f"Inbox {i}")
        elif kind in ("chats/message", "media/mediafile"):
            _message_with_attachments(customer)
        elif kind == "chats/project":
            ProjectFactory(organization=organization, name=f"Project {i}")
        elif kind == "operators/operatorprofile":
            OperatorProfileFactory(
                user=UserFactory(organization=organization, role=Role.OPERATOR), capacity=2
            )
        elif kind == "operators/cannedresponse":
            CannedResponseFactory(organization=organization, shortcut=f"s{n}-{i}", text="t")
        elif kind == "orders/order":
            make_order(customer=customer, title=f"Order {i}")
        elif kind == "operators/auditevent":
            audit_record(
                actor=None, organization=organization, verb="test.row", target=customer, data={}
            )


@pytest.mark.django_db
@pytest.mark.parametrize(
    "kind",
    [
        "accounts/user",
        "chats/inbox",
        "chats/message",
        "chats/project",
        "media/mediafile",
        "operators/operatorprofile",
        "operators/cannedresponse",
        "operators/auditevent",
        "orders/order",
    ],
)
def test_changelist_queries_are_flat(client, organization, admin_user, kind):
    client = signed_in(client, admin_user)
    counts = []
    for n in (5, 45):
        _rows(kind, organization, n)
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(f"/admin/{kind}/").status_code == 200
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1], kind


@pytest.mark.django_db
def test_inbox_automation_is_set_in_the_admin_through_the_service(client, admin_user, customer):
    inbox = support_chat(customer).inbox
    client = signed_in(client, admin_user)
    url = f"/admin/chats/inbox/{inbox.pk}/change/"
    form = {
        "name": inbox.name,
        "auto_assign": "on",
        "is_active": "on",
        "greeting": "  Hello! We answer within the hour.  ",
        "away_message": "",
        "working_hours": '{"tue": [["13:00", "18:00"], ["09:00", "12:00"]]}',
        "timezone": "Europe/Berlin",
        "handoff_keywords": '["operator"]',
    }
    bad = client.post(url, {**form, "timezone": "Mars/Olympus", "working_hours": '{"xyz": []}'})
    assert bad.status_code == 200
    assert "Unknown time zone" in bad.content.decode() and "Unknown day" in bad.content.decode()
    inbox.refresh_from_db()
    assert inbox.timezone == "UTC" and not inbox.greeting

    assert client.post(url, form).status_code == 302
    inbox.refresh_from_db()
    assert inbox.greeting == "Hello! We answer within the hour."  # cleaned by the service
    assert inbox.working_hours == {"tue": [["09:00", "12:00"], ["13:00", "18:00"]]}
    assert inbox.timezone == "Europe/Berlin" and inbox.handoff_keywords == ["operator"]
    changed = AuditEvent.objects.get(verb="inbox.updated").data["changed"]
    assert {"greeting", "working_hours", "timezone"} <= set(changed)


@pytest.mark.django_db
def test_avatar_set_in_the_admin_goes_through_the_media_checks(client, admin_user, operator):
    client = signed_in(client, admin_user)
    url = f"/admin/accounts/user/{operator.pk}/change/"
    picture = ContentFile(png(size=(300, 200)), name="me.png")
    response = client.post(url, {**user_form(operator), "avatar": picture})
    assert response.status_code == 302, response.content.decode()[:3000]
    operator.refresh_from_db()
    assert operator.avatar.name and not operator.avatar.name.endswith("me.png")  # stored anew

    fake = ContentFile(b"<html>not a picture</html>", name="evil.png")
    response = client.post(url, {**user_form(operator), "avatar": fake}, follow=True)
    before = operator.avatar.name
    operator.refresh_from_db()
    assert operator.avatar.name == before
