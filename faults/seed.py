"""``python -m faults.seed <tenants> <customers>``: the fault suite's people and chats, in the
database of ``DATABASE_URL``. Prints one JSON line: per tenant its operator and customers with
ids, access tokens and chat ids."""

from __future__ import annotations

import json
import os
import sys
import uuid


def main(tenants: int, customers: int) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
    import django

    django.setup()
    from rest_framework_simplejwt.tokens import AccessToken

    from accounts.models import Organization, Role, User
    from chats.services import support_chat_get_or_create

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
            }
        )
    print(json.dumps(out))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
