import factory

from accounts.models import Organization, Role, User
from accounts.services import user_groups_sync

DEFAULT_PASSWORD = "correct-horse-battery-9"


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Organization {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    name = factory.Faker("name")
    role = Role.CUSTOMER
    organization = factory.SubFactory(OrganizationFactory)
    password = factory.django.Password(DEFAULT_PASSWORD)

    @factory.post_generation
    def role_group(self, create, extracted, **kwargs):
        if create:
            user_groups_sync(self)
