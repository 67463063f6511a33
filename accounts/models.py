from __future__ import annotations

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class OrganizationManager(models.Manager["Organization"]):
    def default(self) -> Organization:
        """The organization customers join when none is named (``DEFAULT_ORGANIZATION``),
        created on first use."""
        from django.conf import settings

        organization, _ = self.get_or_create(
            slug=settings.DEFAULT_ORGANIZATION,
            defaults={"name": settings.DEFAULT_ORGANIZATION.replace("-", " ").title()},
        )
        return organization


class Organization(models.Model):
    """A tenant: everything a business owns hangs off one organization."""

    tenant_path = "pk"

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=64, unique=True)
    # System lines, automated replies, and what a user with no language of their own reads.
    language = models.CharField(
        max_length=8, choices=settings.LANGUAGES, default=settings.LANGUAGE_CODE
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = OrganizationManager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    ADMIN = "admin", _("Admin")
    SENIOR_OPERATOR = "senior_operator", _("Senior operator")
    OPERATOR = "operator", _("Operator")
    CUSTOMER = "customer", _("Customer")


STAFF_ROLES = frozenset({Role.ADMIN, Role.SENIOR_OPERATOR, Role.OPERATOR})
MANAGER_ROLES = frozenset({Role.ADMIN, Role.SENIOR_OPERATOR})


def normalize_email(email: str) -> str:
    return (email or "").strip().lower()


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def get_by_natural_key(self, username: str) -> User:
        # Emails are unique per organization; the platform owner's tools ask for one user.
        users = self.filter(email__iexact=normalize_email(username)).order_by("pk")
        user = users.first()
        if user is None:
            raise self.model.DoesNotExist(f"No user with email {username!r}.")
        return user

    def create_user(self, email: str, password: str | None = None, **fields) -> User:
        if not email:
            raise ValueError("An email address is required.")
        if "organization" not in fields and "organization_id" not in fields:
            fields["organization"] = Organization.objects.default()
        user = self.model(email=normalize_email(email), **fields)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields) -> User:
        fields.setdefault("role", Role.ADMIN)
        fields["is_superuser"] = True
        return self.create_user(email, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    """A person: staff of an organization or one of its customers. Email is the login, unique
    within an organization (the same address may have an account in two organizations).
    Customers who write from a messaging channel have no email and no usable password."""

    tenant_path = "organization"

    email = models.EmailField(max_length=254, null=True, blank=True)
    name = models.CharField(max_length=150, blank=True)
    avatar = models.ImageField(upload_to="avatars/%Y/%m/", blank=True)
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.CUSTOMER)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="users")
    is_active = models.BooleanField(default=True)
    is_online = models.BooleanField(default=False)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    # "" = not chosen: the browser's language, else the organization's.
    language = models.CharField(max_length=8, choices=settings.LANGUAGES, blank=True, default="")
    date_joined = models.DateTimeField(default=timezone.now, editable=False)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["name"]

    class Meta:
        ordering = ["name", "email"]
        constraints = [
            models.UniqueConstraint(
                "organization",
                Lower("email"),
                condition=Q(email__isnull=False),
                name="accounts_user_org_email_ci_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "role"], name="accounts_user_org_role_idx"),
        ]

    def __str__(self) -> str:
        return self.name or self.email or f"Customer #{self.pk}"

    def clean(self) -> None:
        super().clean()
        self.email = normalize_email(self.email) or None

    @property
    def is_staff(self) -> bool:
        """Staff roles (and the platform owner) sign in to the back office."""
        return self.is_superuser or self.role in STAFF_ROLES

    @property
    def is_customer(self) -> bool:
        return self.role == Role.CUSTOMER

    @property
    def is_manager(self) -> bool:
        """Senior operators and admins: assign chats, change order status."""
        return self.is_superuser or self.role in MANAGER_ROLES

    @property
    def is_org_admin(self) -> bool:
        return self.is_superuser or self.role == Role.ADMIN

    def get_full_name(self) -> str:
        return str(self)

    def get_short_name(self) -> str:
        return str(self)
