import factory

from accounts.models import Role
from accounts.tests.factories import UserFactory
from chats.tests.factories import support_chat
from operators.models import Availability, CannedResponse, OperatorProfile


class OperatorProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OperatorProfile
        django_get_or_create = ("user",)

    user = factory.SubFactory(UserFactory, role=Role.OPERATOR)
    availability = Availability.ONLINE
    capacity = 5


class CannedResponseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CannedResponse

    shortcut = factory.Sequence(lambda n: f"reply{n}")
    text = factory.Faker("sentence")


def online_operator(organization, *, capacity: int = 5, role: str = Role.OPERATOR, **fields):
    """A staff member who receives chats from the queue."""
    user = UserFactory(organization=organization, role=role, **fields)
    OperatorProfileFactory(user=user, capacity=capacity, availability=Availability.ONLINE)
    return user


def customer_chat(organization, *, inbox=None, **fields):
    """A new support chat of a new customer (goes through auto-assignment like a real one)."""
    customer = UserFactory(organization=organization, role=Role.CUSTOMER)
    chat = support_chat(customer, inbox=inbox)
    if fields:
        type(chat).objects.filter(pk=chat.pk).update(**fields)
        chat.refresh_from_db()
    return chat
