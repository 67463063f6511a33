"""Writes of organizations and users: registration, login, staff management, profile."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from accounts import error_codes, hooks
from accounts.models import STAFF_ROLES, Organization, Role, User, normalize_email
from crm import ratelimit
from crm.errors import Conflict, Forbidden, RateLimited, ValidationFailed
from crm.i18n import organization_language_forget

logger = logging.getLogger(__name__)


class InvalidCredentials(ValidationFailed):
    status_code = 401
    code = error_codes.INVALID_CREDENTIALS
    default_detail = gettext_lazy("Email or password is incorrect.")


def _password_errors(password: str, user: User) -> list[str]:
    try:
        validate_password(password, user)
    except DjangoValidationError as exc:
        return list(exc.messages)
    return []


def _check_password(password: str, user: User, field: str = "password") -> None:
    errors = _password_errors(password, user)
    if errors:
        raise ValidationFailed(
            " ".join(errors), code=error_codes.WEAK_PASSWORD, fields={field: errors}
        )


def _email_taken(email: str, *, organization: Organization) -> bool:
    """Emails are unique within an organization: whether an address has an account in another
    one is never revealed (nor does it stop anyone registering here)."""
    return User.objects.filter(
        organization=organization, email__iexact=normalize_email(email)
    ).exists()


def user_groups_sync(user: User) -> None:
    """Keep the user's Django group equal to their role (staff roles only)."""
    groups = list(Group.objects.filter(name=user.role)) if user.role in STAFF_ROLES else []
    user.groups.set(groups)


def tokens_for(user: User) -> dict[str, str]:
    refresh = RefreshToken.for_user(user)
    return {"access": str(refresh.access_token), "refresh": str(refresh)}


def organization_default() -> Organization:
    """The default organization, created on first use (a write: it is not a selector)."""
    return Organization.objects.default()


@transaction.atomic
def _clean_organization_language(language: str) -> str:
    if language not in dict(settings.LANGUAGES):
        raise ValidationFailed(
            _("Unknown language %(code)s.") % {"code": language},
            code=error_codes.INVALID_LANGUAGE,
            fields={"language": [_("Choose English or Russian.")]},
        )
    return language


def organization_create(*, slug: str, name: str, language: str | None = None) -> Organization:
    slug = slugify(slug)
    if not slug:
        raise ValidationFailed(_("An organization needs a slug."), code=error_codes.INVALID_SLUG)
    if Organization.objects.filter(slug=slug).exists():
        raise Conflict(
            _("Organization %(slug)r already exists.") % {"slug": slug},
            code=error_codes.ORGANIZATION_EXISTS,
        )
    language = _clean_organization_language(language or settings.LANGUAGE_CODE)
    return Organization.objects.create(slug=slug, name=name or slug, language=language)


def user_create(
    *, organization: Organization, email: str, name: str, role: str, password: str | None
) -> User:
    email = normalize_email(email)
    if _email_taken(email, organization=organization):
        raise ValidationFailed(
            _("A user with this email already exists."),
            code=error_codes.EMAIL_TAKEN,
            fields={"email": [_("A user with this email already exists.")]},
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
            _("A user with this email already exists."),
            code=error_codes.EMAIL_TAKEN,
            fields={"email": [_("A user with this email already exists.")]},
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
        raise Forbidden(_("Only an organization admin manages staff."))
    if role not in Role.values:
        raise ValidationFailed(
            _("Unknown role %(role)r.") % {"role": role}, code=error_codes.INVALID_ROLE
        )
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
        raise Forbidden(_("Only an organization admin manages users."))
    if user.pk == actor.pk and (is_active is False or (role and role != actor.role)):
        raise ValidationFailed(
            _("You cannot deactivate yourself or change your own role."),
            code=error_codes.SELF_CHANGE,
        )
    changed: list[str] = []
    if role is not None and role != user.role:
        if role not in Role.values:
            raise ValidationFailed(
                _("Unknown role %(role)r.") % {"role": role}, code=error_codes.INVALID_ROLE
            )
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
        raise Forbidden(_("Only an organization admin manages users."))
    if password:
        _check_password(password, user)
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save(update_fields=["password"])
    user_sessions_revoke(user=user)
    return user


@transaction.atomic
def organization_update(
    *, actor: User, organization: Organization, name: str, language: str | None = None
) -> Organization:
    """An admin renames the organization or changes its language (system lines, automated
    replies, and what its users without a language of their own read)."""
    if not actor.is_org_admin or (
        organization.pk != actor.organization_id and not actor.is_superuser
    ):
        raise Forbidden(_("Only an organization admin changes the organization."))
    name = (name or "").strip()
    if not name:
        raise ValidationFailed(_("An organization needs a name."), code=error_codes.INVALID_NAME)
    changed = []
    if name != organization.name:
        organization.name = name
        changed.append("name")
    if language is not None and language != organization.language:
        organization.language = _clean_organization_language(language)
        changed.append("language")
    if changed:
        organization.save(update_fields=changed)
        organization_language_forget(organization.pk)
    return organization


def user_sessions_revoke(*, user: User) -> None:
    """Blacklist every refresh token of the user. Access tokens stop at the next request
    because authentication checks ``is_active``."""
    for token in OutstandingToken.objects.filter(user=user).exclude(blacklistedtoken__isnull=False):
        BlacklistedToken.objects.get_or_create(token=token)
    from crm import events

    events.user_sessions_ended(user_id=user.pk)


def auth_login(*, email: str, password: str, ip: str, organization: str | None = None) -> User:
    """Check credentials, refusing after too many failures per address and per email. The
    organization's slug picks the account when one email has several with the same password.

    Every attempt takes a slot of both limits before the password is checked, and gives it
    back when it signs in: a burst of concurrent attempts checks at most the limit's number
    of passwords, and once it is spent even the right password is refused.
    """
    email = normalize_email(email)
    reservations: list[ratelimit.Reservation] = []
    for scope, ident in (("login_ip", ip), ("login_email", email)):
        reservation = ratelimit.reserve(scope, ident)
        reservations.append(reservation)
        if not reservation.decision.allowed:
            for taken in reservations:
                ratelimit.release(taken)
            raise RateLimited(
                _("Too many failed sign-in attempts. Try again later."),
                code=error_codes.LOGIN_THROTTLED,
                retry_after=reservation.decision.retry_after,
            )
    user = authenticate(username=email, password=password, organization=organization)
    if user is None:
        raise InvalidCredentials()
    for taken in reservations:
        ratelimit.release(taken)
    return user


@transaction.atomic
def profile_update(
    *,
    user: User,
    name: str | None = None,
    avatar: Any = None,
    old_password: str | None = None,
    new_password: str | None = None,
    language: str | None = None,
) -> User:
    fields: list[str] = []
    if name is not None:
        user.name = name.strip()
        fields.append("name")
    if language is not None:
        if language and language not in dict(settings.LANGUAGES):
            raise ValidationFailed(
                _("Unknown language %(code)s.") % {"code": language},
                code=error_codes.INVALID_LANGUAGE,
                fields={"language": [_("Choose English or Russian.")]},
            )
        user.language = language
        fields.append("language")
    if new_password is not None:
        if not old_password or not user.check_password(old_password):
            raise ValidationFailed(
                _("The current password is incorrect."),
                code=error_codes.WRONG_PASSWORD,
                fields={"old_password": [_("The current password is incorrect.")]},
            )
        _check_password(new_password, user, field="new_password")
        user.set_password(new_password)
        fields.append("password")
    if avatar is not None:
        _avatar_replace(user, avatar)
        fields.append("avatar")
    if fields:
        user.save(update_fields=fields)
    return user


def _avatar_replace(user: User, content: Any) -> None:
    """Check and resize the upload through the media pipeline (it may refuse it), store it
    under a fresh name, and remove the previous file once the change is committed."""
    data, ext = hooks.avatar_prepare(user=user, content=content)
    storage = user.avatar.storage
    previous = user.avatar.name
    user.avatar.save(f"{uuid.uuid4().hex}.{ext}", ContentFile(data), save=False)
    if previous:
        transaction.on_commit(lambda: _file_delete(storage, previous))


def _file_delete(storage: Any, name: str) -> None:
    try:
        storage.delete(name)
    except OSError:
        logger.warning("Could not delete the previous avatar %s", name, exc_info=True)
