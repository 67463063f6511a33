from django.core.management.base import BaseCommand, CommandError

from chats.models import Inbox, InboxKind
from connectors.base import SendError
from connectors.telegram import ALLOWED_UPDATES, TelegramConnector


class Command(BaseCommand):
    help = (
        "Point a Telegram bot's webhook at this server: setWebhook with the inbox's secret token "
        "and the updates the inbox reads."
    )

    def add_arguments(self, parser):
        parser.add_argument("inbox_id", type=int)
        parser.add_argument(
            "--url",
            required=True,
            help="Public HTTPS base URL of this server, e.g. https://crm.example.com",
        )

    def handle(self, *args, inbox_id: int, url: str, **options):
        inbox = Inbox.objects.filter(pk=inbox_id, kind=InboxKind.TELEGRAM).first()
        if inbox is None:
            raise CommandError(f"No Telegram inbox with id {inbox_id}.")
        if not inbox.webhook_secret:
            raise CommandError(
                "The inbox has no webhook secret: set one first (PATCH /api/inboxes/<id> "
                '{"webhook_secret": "..."}), or every update would be refused.'
            )
        if not url.startswith(("https://", "http://")):
            raise CommandError("--url must be an http(s) base URL.")
        connector = TelegramConnector()
        try:
            me = connector.get_me(inbox)
            connector.set_webhook(inbox, base_url=url)
        except SendError as exc:
            raise CommandError(str(exc.detail)) from exc
        target = url.rstrip("/") + connector.webhook_path(inbox)
        self.stdout.write(
            f"@{(me or {}).get('username', '?')} now posts {', '.join(ALLOWED_UPDATES)} to {target}"
        )
