from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.models import Role
from accounts.services import organization_create, user_create
from crm.errors import DomainError


class Command(BaseCommand):
    help = "Create an organization (tenant) and its first admin."

    def add_arguments(self, parser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--name", default="")
        parser.add_argument("--admin-email", required=True)
        parser.add_argument("--admin-password", required=True)
        parser.add_argument("--admin-name", default="")

    def handle(
        self,
        *args,
        slug: str,
        name: str,
        admin_email: str,
        admin_password: str,
        admin_name: str,
        **options,
    ) -> None:
        try:
            with transaction.atomic():
                organization = organization_create(slug=slug, name=name)
                admin = user_create(
                    organization=organization,
                    email=admin_email,
                    name=admin_name,
                    role=Role.ADMIN,
                    password=admin_password,
                )
        except DomainError as exc:
            raise CommandError(exc.detail) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Created organization {organization.slug!r} with admin {admin.email}."
            )
        )
