"""Sign-in by email and password, where an email is unique per organization."""

from __future__ import annotations

from django.contrib.auth.backends import ModelBackend

from accounts.models import User, normalize_email


class EmailBackend(ModelBackend):
    """The account whose email and password match. The same address may exist in several
    organizations: with ``organization`` (a slug) only that one is tried; without it, the one
    account whose password matches signs in, and an ambiguous match signs in nobody.
    Channel customers have no email and an unusable password, so they never get here."""

    def authenticate(self, request, username=None, password=None, organization=None, **kwargs):
        email = normalize_email(username or kwargs.get("email") or "")
        if not email or password is None:
            return None
        users = User.objects.filter(email__iexact=email).select_related("organization")
        if organization:
            users = users.filter(organization__slug=organization)
        matches = [
            u
            for u in users[:20]
            if u.has_usable_password()
            and u.check_password(password)
            and self.user_can_authenticate(u)
        ]
        if not matches:
            User().set_password(password)  # the same work as a wrong password: no timing leak
            return None
        return matches[0] if len(matches) == 1 else None

    def get_user(self, user_id):
        # With its organization: the request's language may fall back to the organization's.
        try:
            user = User._default_manager.select_related("organization").get(pk=user_id)
        except User.DoesNotExist:
            return None
        return user if self.user_can_authenticate(user) else None
