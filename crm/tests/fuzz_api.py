"""Property-based API fuzzing with Schemathesis: every operation of ``/api/schema/``, with
generated inputs, as an admin and as a customer of a dedicated tenant. Two checks: the server
never answers 5xx, and every response it sends conforms to the schema.

Not part of the regular suite (the file name does not start with ``test_``): ``make fuzz``
runs it. ``FUZZ_EXAMPLES`` sets the examples per operation and role (default 10).
The schema is loaded at module level (Schemathesis' pytest fixture loader breaks on some
pytest versions).
"""

from __future__ import annotations

import os
import sys

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from accounts.models import Role
from accounts.services import tokens_for
from accounts.tests.factories import OrganizationFactory, UserFactory

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "10"))
CHECKS = [not_a_server_error, response_schema_conformance]

app = get_wsgi_application()
schema = schemathesis.openapi.from_wsgi("/api/schema/", app)

RESULTS = {"operations": set(), "cases": 0}


@pytest.fixture
def same_connection():
    """Requests go straight to the WSGI app inside the test's transaction: like Django's test
    client, keep the handler from closing the connection at the end of each request."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def tenant(db, same_connection):
    """A tenant of its own, with a chat, a message and an order for ids to land on."""
    from chats.services import message_send
    from chats.tests.factories import support_chat
    from orders.services import order_create

    organization = OrganizationFactory(slug="fuzz", name="Fuzz")
    admin = UserFactory(organization=organization, role=Role.ADMIN, email="fuzz-admin@example.com")
    customer = UserFactory(
        organization=organization, role=Role.CUSTOMER, email="fuzz-customer@example.com"
    )
    chat = support_chat(customer)
    message_send(sender=customer, chat=chat, text="Where is my sofa?", kind="text")
    order_create(actor=admin, customer_id=customer.pk, title="Sofa")
    return {
        "admin": tokens_for(admin)["access"],
        "customer": tokens_for(customer)["access"],
    }


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["admin", "customer"])
@schema.parametrize()
@hypothesis_settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_api(case, tenant, role):
    headers = {"Authorization": f"Bearer {tenant[role]}"}
    RESULTS["operations"].add(case.operation.label)
    RESULTS["cases"] += 1
    case.call_and_validate(headers=headers, checks=CHECKS)


def teardown_module(module) -> None:
    operations = len(RESULTS["operations"])
    summary = f"Fuzzed {operations} operations with {RESULTS['cases']} cases (both roles)."
    sys.stderr.write(f"\n{summary}\n")
