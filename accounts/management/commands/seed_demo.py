from django.core.management.base import BaseCommand

from accounts.models import Role
from crm.demo import seed_demo


class Command(BaseCommand):
    help = "Create (or complete) the demo organization and print its logins. Safe to run again."

    def handle(self, *args, **options) -> None:
        organization, logins = seed_demo()
        self.stdout.write(
            self.style.SUCCESS(f"Demo organization: {organization.name} ({organization.slug})")
        )
        self.stdout.write("Staff (back office and operator workspace at /admin/):")
        for login in logins:
            if login.role != Role.CUSTOMER:
                self.stdout.write(f"  {login.role:<16} {login.email:<28} {login.password}")
        self.stdout.write("Customers (cabinet at /):")
        for login in logins:
            if login.role == Role.CUSTOMER:
                self.stdout.write(f"  {login.name:<16} {login.email:<28} {login.password}")
