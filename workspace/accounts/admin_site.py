"""The admin (Django's, staff only) under the login throttle: its login form and its password change."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.views import PasswordChangeView
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from workspace.accounts.forms import AdminLoginForm, AdminPasswordChangeThrottledForm


class ThrottledPasswordChangeView(PasswordChangeView):
    form_class = AdminPasswordChangeThrottledForm

    def get_form_kwargs(self) -> dict:
        return {**super().get_form_kwargs(), "request": self.request}


def password_change(request: HttpRequest) -> HttpResponse:
    """AdminSite.password_change with the throttled form (the admin site has no setting for that form)."""
    request.current_app = admin.site.name
    return ThrottledPasswordChangeView.as_view(
        success_url=reverse("admin:password_change_done", current_app=admin.site.name),
        extra_context=admin.site.each_context(request),
    )(request)


def throttle_admin_site(site: admin.AdminSite) -> None:
    """Use the throttled login form on `site` (its password change is routed to `password_change`)."""
    site.login_form = AdminLoginForm
