import json

from django.core.management.base import BaseCommand, CommandError

from chats.models import Inbox, InboxKind
from connectors.base import SendError
from connectors.telegram import TelegramConnector


class Command(BaseCommand):
    help = (
        "Show what Telegram knows of an inbox's webhook (getWebhookInfo): URL, pending updates, "
        "last error."
    )

    def add_arguments(self, parser):
        parser.add_argument("inbox_id", type=int)

    def handle(self, *args, inbox_id: int, **options):
        inbox = Inbox.objects.filter(pk=inbox_id, kind=InboxKind.TELEGRAM).first()
        if inbox is None:
            raise CommandError(f"No Telegram inbox with id {inbox_id}.")
        try:
            info = TelegramConnector().webhook_info(inbox)
        except SendError as exc:
            raise CommandError(str(exc.detail)) from exc
        self.stdout.write(json.dumps(info, indent=2, ensure_ascii=False))
