"""Log-in and password-change forms under the login throttle (workspace/accounts/throttle.py)."""

from __future__ import annotations

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm, AdminPasswordChangeForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import PermissionDenied

from workspace.accounts import throttle

THROTTLED = "throttled"


class ThrottledLoginMixin:
    """Says so when the account or the address is locked, before and right after the password check."""

    lockout: throttle.Lockout | None = None

    def _raise_if_locked(self) -> None:
        self.lockout = throttle.lockout(self.request, self.cleaned_data.get("username"))
        if self.lockout is not None:
            raise forms.ValidationError(self.lockout.message, code=THROTTLED)

    def clean(self):
        self._raise_if_locked()
        try:
            return super().clean()
        except forms.ValidationError as error:
            if error.code == "invalid_login":
                self._raise_if_locked()  # this failure may have started a lockout
            raise


class LoginForm(ThrottledLoginMixin, AuthenticationForm):
    pass


class AdminLoginForm(ThrottledLoginMixin, AdminAuthenticationForm):
    pass


class AdminPasswordChangeThrottledForm(AdminPasswordChangeForm):
    """The admin's "change my password" form: its old-password check is throttled like a login."""

    def __init__(self, user, *args, request=None, **kwargs) -> None:
        self.request = request
        super().__init__(user, *args, **kwargs)

    def clean_old_password(self) -> str:
        old_password = self.cleaned_data["old_password"]
        try:
            correct = throttle.check_password_attempt(self.user, old_password, self.request)
        except PermissionDenied as locked:
            raise forms.ValidationError(str(locked), code=THROTTLED) from None
        if not correct:
            raise forms.ValidationError(self.error_messages["password_incorrect"], code="password_incorrect")
        return old_password
