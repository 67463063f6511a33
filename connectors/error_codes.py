"""Error codes of the connectors app: the ``code`` of every error it answers with. Clients match
on these strings; they never change once published."""

BOT_BLOCKED = "bot_blocked"
CHANNEL_UNAVAILABLE = "channel_unavailable"
DELIVERY_UNKNOWN = "delivery_unknown"
INBOX_NOT_FOUND = "inbox_not_found"
INVALID_JSON = "invalid_json"
INVALID_SETTINGS = "invalid_settings"
INVALID_SIGNATURE = "invalid_signature"
INVALID_TOKEN = "invalid_token"  # noqa: S105 (an error code, not a secret)
INVALID_UPDATE = "invalid_update"
MESSAGE_DELETED = "message_deleted"
NOT_CHANNEL_MESSAGE = "not_channel_message"
PAYLOAD_TOO_LARGE = "payload_too_large"
PROVIDER_ERROR = "provider_error"
PROVIDER_REJECTED = "provider_rejected"
PROVIDER_UNAVAILABLE = "provider_unavailable"
RATE_LIMITED = "rate_limited"
