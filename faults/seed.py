"""``python -m faults.seed <tenants> <customers>``: the fault suite's people and chats, in the
database of ``DATABASE_URL``. Prints one JSON line: per tenant its operator and customers with
ids, access tokens and chat ids, and its Telegram inbox (made through the inbox service,
``TELEGRAM_API_URL`` pointing at the stand-in) with the webhook secret and two Telegram
customers' chats, each opened by a message received through the channel service; with
``FAULTS_CALLBACK_URL``, an API-channel inbox calling back there and two bridge customers' chats
opened the same way."""

from __future__ import annotations

import json
import os
import sys
import uuid

BOT_TOKEN = "123456789:AAfaults-bot-token-0123456789abcdefXYZ"  # noqa: S105 (the stand-in's)


def main(tenants: int, customers: int) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
    import django

    django.setup()
    from rest_framework_simplejwt.tokens import AccessToken

    from accounts.models import Organization, Role, User
    from chats.services import inbox_create, support_chat_get_or_create
    from chats.services.channels import ChannelSender, message_receive

    run = uuid.uuid4().hex[:6]
    out = []
    for t in range(tenants):
        org = Organization.objects.create(name=f"Tenant {t} {run}", slug=f"t{t}-{run}")

        def user(role: str, name: str, organization=org) -> User:
            # No password (they sign in with tokens): thousands are made in seconds.
            return User.objects.create_user(
                email=f"{name}@{organization.slug}.example",
                password=None,
                organization=organization,
                role=role,
            )

        operator = user(Role.OPERATOR, "operator")
        admin = user(Role.ADMIN, "admin")
        inbox, generated = inbox_create(
            actor=admin, kind="telegram", name="Bot", bot_token=BOT_TOKEN
        )
        telegram = []
        for c in range(2):
            user_id = 7_000_000 + t * 100 + c
            received = message_receive(
                inbox=inbox,
                sender=ChannelSender(external_id=str(user_id), name=f"Telegram {t}.{c}"),
                external_id=f"seed-{c}",
                text="Hello from Telegram",
            )
            telegram.append({"user_id": user_id, "chat": received.chat.pk})
        bridge = None
        if os.environ.get("FAULTS_CALLBACK_URL"):
            api_inbox, _ = inbox_create(
                actor=admin,
                kind="api",
                name="Bridge",
                callback_url=os.environ["FAULTS_CALLBACK_URL"],
                auto_assign=False,
            )
            bridge = {"inbox": api_inbox.pk, "chats": []}
            for c in range(2):
                received = message_receive(
                    inbox=api_inbox,
                    sender=ChannelSender(external_id=f"bridge-{t}-{c}", name=f"Bridge {t}.{c}"),
                    external_id=f"seed-{c}",
                    text="Hello from the bridge",
                )
                bridge["chats"].append({"contact": f"bridge-{t}-{c}", "chat": received.chat.pk})
        people = []
        for c in range(customers):
            customer = user(Role.CUSTOMER, f"customer{c}")
            chat, _ = support_chat_get_or_create(customer=customer)
            people.append(
                {"id": customer.pk, "token": str(AccessToken.for_user(customer)), "chat": chat.pk}
            )
        out.append(
            {
                "organization": org.pk,
                "operator": {"id": operator.pk, "token": str(AccessToken.for_user(operator))},
                "customers": people,
                "telegram": {
                    "inbox": inbox.pk,
                    "secret": generated["webhook_secret"],
                    "admin": {"id": admin.pk, "token": str(AccessToken.for_user(admin))},
                    "chats": telegram,
                },
                "api": bridge,
            }
        )
    print(json.dumps(out))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
