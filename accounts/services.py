"""Writes of organizations and users: registration, login, staff management, profile."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils.text import slugify
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import STAFF_ROLES, Organization, Role, User, normalize_email
from crm import ratelimit
from crm.errors import Conflict, Forbidden, RateLimited, ValidationFailed


class InvalidCredentials(ValidationFailed):
    status_code = 401
    code = "invalid_credentials"
    default_detail = "Email or password is incorrect."


def _password_errors(password: str, user: User) -> list[str]:
    try:
        validate_password(password, user)
    except DjangoValidationError as exc:
        return list(exc.messages)
    return []


def _check_password(password: str, user: User, field: str = "password") -> None:
    errors = _password_errors(password, user)
    if errors:
        raise ValidationFailed(" ".join(errors), code="weak_password", fields={field: errors})


def _email_taken(email: str) -> bool:
    return User.objects.filter(email__iexact=normalize_email(email)).exists()


def user_groups_sync(user: User) -> None:
    """Keep the user's Django group equal to their role (staff roles only)."""
    groups = list(Group.objects.filter(name=user.role)) if user.role in STAFF_ROLES else []
    user.groups.set(groups)


def tokens_for(user: User) -> dict[str, str]:
    refresh = RefreshToken.for_user(user)
    return {"access": str(refresh.access_token), "refresh": str(refresh)}


@transaction.atomic
def organization_create(*, slug: str, name: str) -> Organization:
    slug = slugify(slug)
    if not slug:
        raise ValidationFailed("An organization needs a slug.", code="invalid_slug")
    if Organization.objects.filter(slug=slug).exists():
        raise Conflict(f"Organization {slug!r} already exists.", code="organization_exists")
    return Organization.objects.create(slug=slug, name=name or slug)


def user_create(
    *, organization: Organization, email: str, name: str, role: str, password: str | None
) -> User:
    email = normalize_email(email)
    if _email_taken(email):
        raise ValidationFailed(
            "A user with this email already exists.",
            code="email_taken",
            fields={"email": ["A user with this email already exists."]},
        )
    user = User(email=email, name=name.strip(), role=role, organization=organization)
    if password:
        _check_password(password, user)
        user.set_password(password)
    else:
        user.set_unusable_password()
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:  # a concurrent request took the email between check and insert
        raise ValidationFailed(
            "A user with this email already exists.",
            code="email_taken",
            fields={"email": ["A user with this email already exists."]},
        ) from None
    user_groups_sync(user)
    return user


@transaction.atomic
def customer_register(*, organization: Organization, email: str, password: str, name: str) -> User:
    return user_create(
        organization=organization, email=email, name=name, role=Role.CUSTOMER, password=password
    )


@transaction.atomic
def staff_user_create(
    *,
    actor: User,
    email: str,
    name: str,
    role: str,
    password: str | None,
    organization: Organization | None = None,
) -> User:
    """An admin adds a user to their organization (the platform owner: to any)."""
    elsewhere = organization is not None and organization.pk != actor.organization_id
    if not actor.is_org_admin or (elsewhere and not actor.is_superuser):
        raise Forbidden("Only an organization admin manages staff.")
    if role not in Role.values:
        raise ValidationFailed(f"Unknown role {role!r}.", code="invalid_role")
    return user_create(
        organization=organization or actor.organization,
        email=email,
        name=name,
        role=role,
        password=password,
    )


@transaction.atomic
def user_update(
    *,
    actor: User,
    user: User,
    role: str | None = None,
    is_active: bool | None = None,
    name: str | None = None,
) -> User:
    """An admin changes a user of their organization. Deactivation ends the user's sessions."""
    if not actor.is_org_admin or (
        user.organization_id != actor.organization_id and not actor.is_superuser
    ):
        raise Forbidden("Only an organization admin manages users.")
    if user.pk == actor.pk and (is_active is False or (role and role != actor.role)):
        raise ValidationFailed(
            "You cannot deactivate yourself or change your own role.", code="self_change"
        )
    changed: list[str] = []
    if role is not None and role != user.role:
        if role not in Role.values:
            raise ValidationFailed(f"Unknown role {role!r}.", code="invalid_role")
        user.role = role
        changed.append("role")
    if is_active is not None and is_active != user.is_active:
        user.is_active = is_active
        changed.append("is_active")
    if name is not None and name.strip() != user.name:
        user.name = name.strip()
        changed.append("name")
    if changed:
        user.save(update_fields=changed)
    if "role" in changed:
        user_groups_sync(user)
    if "is_active" in changed and not user.is_active:
        user_sessions_revoke(user=user)
    return user


@transaction.atomic
def user_password_set(*, actor: User, user: User, password: str | None) -> User:
    """An admin sets a user's password (``None``: no password sign-in). The user's other
    sessions end: their refresh tokens stop working and their sockets close."""
    if not actor.is_org_admin or (
        user.organization_id != actor.organization_id and not actor.is_superuser
    ):
        raise Forbidden("Only an organization admin manages users.")
    if password:
        _check_password(password, user)
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save(update_fields=["password"])
    user_sessions_revoke(user=user)
    return user


@transaction.atomic
def organization_update(*, actor: User, organization: Organization, name: str) -> Organization:
    if not actor.is_org_admin or (
        organization.pk != actor.organization_id and not actor.is_superuser
    ):
        raise Forbidden("Only an organization admin changes the organization.")
    name = (name or "").strip()
    if not name:
        raise ValidationFailed("An organization needs a name.", code="invalid_name")
    if name != organization.name:
        organization.name = name
        organization.save(update_fields=["name"])
    return organization


def user_sessions_revoke(*, user: User) -> None:
    """Blacklist every refresh token of the user. Access tokens stop at the next request
    because authentication checks ``is_active``."""
    for token in OutstandingToken.objects.filter(user=user).exclude(blacklistedtoken__isnull=False):
        BlacklistedToken.objects.get_or_create(token=token)
    from crm import events

    events.user_sessions_ended(user_id=user.pk)


def auth_login(*, email: str, password: str, ip: str) -> User:
    """Check credentials, refusing after too many failures per address and per email."""
    email = normalize_email(email)
    for scope, ident in (("login_ip", ip), ("login_email", email)):
        decision = ratelimit.peek(scope, ident)
        if not decision.allowed:
            raise RateLimited(
                "Too many failed sign-in attempts. Try again later.",
                code="login_throttled",
                retry_after=decision.retry_after,
            )
    user = authenticate(username=email, password=password)
    if user is None:
        ratelimit.hit("login_ip", ip)
        ratelimit.hit("login_email", email)
        raise InvalidCredentials()
    return user


@transaction.atomic
def profile_update(
    *,
    user: User,
    name: str | None = None,
    avatar: Any = None,
    old_password: str | None = None,
    new_password: str | None = None,
) -> User:
    fields: list[str] = []
    if name is not None:
        user.name = name.strip()
        fields.append("name")
    if avatar is not None:
        user.avatar = avatar
        fields.append("avatar")
    if new_password is not None:
        if not old_password or not user.check_password(old_password):
            raise ValidationFailed(
                "The current password is incorrect.",
                code="wrong_password",
                fields={"old_password": ["The current password is incorrect."]},
            )
        _check_password(new_password, user, field="new_password")
        user.set_password(new_password)
        fields.append("password")
    if fields:
        user.save(update_fields=fields)
    return user
