"""Error codes of the compat app: the ``code`` of every error it answers with. Clients match
on these strings; they never change once published."""

CHAT_ID_REQUIRED = "chat_id_required"
