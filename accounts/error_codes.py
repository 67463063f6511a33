"""Error codes of the accounts app: the ``code`` of every error it answers with. Clients match
on these strings; they never change once published."""

AVATARS_UNAVAILABLE = "avatars_unavailable"
EMAIL_TAKEN = "email_taken"
INVALID_CREDENTIALS = "invalid_credentials"
INVALID_LANGUAGE = "invalid_language"
INVALID_NAME = "invalid_name"
INVALID_ROLE = "invalid_role"
INVALID_SLUG = "invalid_slug"
LOGIN_THROTTLED = "login_throttled"
NO_AVATAR = "no_avatar"
ORGANIZATION_EXISTS = "organization_exists"
ORGANIZATION_NOT_FOUND = "organization_not_found"
PERMISSION_DENIED = "permission_denied"
SELF_CHANGE = "self_change"
USER_NOT_FOUND = "user_not_found"
WEAK_PASSWORD = "weak_password"  # noqa: S105 (a code, not a password)
WRONG_PASSWORD = "wrong_password"  # noqa: S105
