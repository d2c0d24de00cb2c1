from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "workspace.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in, user_login_failed

        from workspace.accounts import throttle

        user_login_failed.connect(throttle.on_login_failed, dispatch_uid="sparkroom-login-throttle-failed")
        user_logged_in.connect(throttle.on_logged_in, dispatch_uid="sparkroom-login-throttle-success")
