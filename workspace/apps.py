from django.apps import AppConfig


class WorkspaceConfig(AppConfig):
    """The operator workspace: the back office's live inbox, conversation page and dashboard."""

    name = "workspace"
