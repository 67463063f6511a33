from django.apps import AppConfig


class WorkspaceConfig(AppConfig):
    """The operator workspace: the back office's live inbox, conversation page and dashboard."""

    name = "workspace"

    def ready(self) -> None:
        from django.contrib import admin

        from workspace.dashboard_views import dashboard_context

        site = admin.site
        if getattr(site, "_workspace_dashboard", False):
            return
        # The top navigation (templates/admin/base_site.html) replaces the model sidebar.
        site.enable_nav_sidebar = False
        index = site.index

        def index_with_dashboard(request, extra_context=None):
            # The admin's own index (app list, permissions) with the dashboard's numbers added.
            return index(request, {**dashboard_context(request), **(extra_context or {})})

        site.index = index_with_dashboard
        site._workspace_dashboard = True
