"""Every task is idempotent (see each one's docstring), so every task is acknowledged only
after it ran and is queued again when its worker dies mid-task: a kill -9 loses none."""

from __future__ import annotations

from crm.celery import app

OURS = ("chats.", "media.", "operators.", "orders.", "accounts.")


def test_every_task_is_acked_late_and_requeued_when_its_worker_is_lost():
    app.loader.import_default_modules()
    tasks = {name: task for name, task in app.tasks.items() if name.startswith(OURS)}
    assert len(tasks) >= 5, sorted(tasks)
    for name, task in tasks.items():
        assert task.acks_late is True, name
        assert task.reject_on_worker_lost is True, name
