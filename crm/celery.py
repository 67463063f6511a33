import functools
import logging
import os

from celery import Celery
from celery.contrib.django.task import DjangoTask

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")

logger = logging.getLogger(__name__)


class Task(DjangoTask):
    """Tasks enqueued after commit never fail the request that committed: with the broker
    down the enqueue is logged (once per outage) and the work is left to its periodic safety
    net (see CELERY_BEAT_SCHEDULE) or to the next write that enqueues it again."""

    def delay_on_commit(self, *args, **kwargs) -> None:
        self.apply_async_on_commit(args, kwargs)

    def apply_async_on_commit(self, *args, **kwargs) -> None:
        from django.db import transaction

        transaction.on_commit(functools.partial(self._enqueue_after_commit, *args, **kwargs))

    def _enqueue_after_commit(self, *args, **kwargs) -> None:
        from crm import outage

        try:
            self.apply_async(*args, **kwargs)
        except Exception as exc:
            if outage.part_down(exc) is None:
                logger.exception("Could not enqueue %s", self.name)
            else:
                outage.report("broker", exc)
        else:
            outage.recovered("broker")


app = Celery("crm", task_cls=Task)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# The request id of the request that enqueued a task is bound in the task's log lines.
from django_structlog.celery.steps import DjangoStructLogInitStep  # noqa: E402

app.steps["worker"].add(DjangoStructLogInitStep)
