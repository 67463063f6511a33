import factory

from accounts.tests.factories import OrganizationFactory, UserFactory
from chats.models import Chat, ChatKind, Inbox, InboxKind, Membership, Project


class InboxFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Inbox

    organization = factory.SubFactory(OrganizationFactory)
    kind = InboxKind.API
    name = factory.Sequence(lambda n: f"Inbox {n}")


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Project {n}")


def support_chat(customer, **kwargs) -> Chat:
    from chats.services import support_chat_get_or_create

    chat, _ = support_chat_get_or_create(customer=customer, **kwargs)
    return chat


def internal_chat(kind: str, members, *, name: str = "", organization=None) -> Chat:
    organization = organization or members[0].organization
    chat = Chat.objects.create(organization=organization, kind=kind, name=name)
    for user in members:
        Membership.objects.create(chat=chat, user=user, is_participant=True)
    return chat


__all__ = [
    "ChatKind",
    "InboxFactory",
    "ProjectFactory",
    "UserFactory",
    "internal_chat",
    "support_chat",
]
