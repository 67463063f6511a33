from django.core.management.base import BaseCommand

from accounts.models import Role
from crm.demo import demo_specs, seed_demo


class Command(BaseCommand):
    help = (
        "Create (or complete) the demo organizations (English and Russian) and print their "
        "logins. Safe to run again."
    )

    def handle(self, *args, **options) -> None:
        for spec in demo_specs():
            organization, logins = seed_demo(spec)
            self.stdout.write(
                self.style.SUCCESS(
                    f"Demo organization: {organization.name} ({organization.slug}, "
                    f"language {organization.language})"
                )
            )
            self.stdout.write("Staff (back office and operator workspace at /admin/):")
            for login in logins:
                if login.role != Role.CUSTOMER:
                    self.stdout.write(f"  {login.role:<20} {login.email:<32} {login.password}")
            self.stdout.write("Customers (cabinet at /):")
            for login in logins:
                if login.role == Role.CUSTOMER:
                    self.stdout.write(f"  {login.name:<20} {login.email:<32} {login.password}")
