"""Login throttle: failed password checks are counted per account and per client address in Django's cache.

Why our own and not django-axes: with its per-address lockout, a successful login deletes every attempt
recorded for that address, the failures against *other* accounts included, so an attacker who owns one
account could reset both counters between guesses; it also allows one limit for both dimensions, and its
backend refuses `authenticate()` calls without a request. Here:

- every password check that goes through `django.contrib.auth.authenticate()` (the login page, the admin's
  login, anything later) is covered: `ThrottledModelBackend`, the one entry of `AUTHENTICATION_BACKENDS`,
  refuses the check while the account or the address is locked, and `user_login_failed` counts each failure;
  `check_password_attempt` covers checks outside `authenticate()` (the admin's password change);
- `LOGIN_FAILURE_LIMIT` failures for one account, or `LOGIN_ADDRESS_FAILURE_LIMIT` from one address (IPv6:
  its /64), each less than `LOGIN_COOLOFF_SECONDS` after the previous one, lock it for `LOGIN_COOLOFF_SECONDS`;
  checks refused during a lockout are not counted, so the lockout ends on time;
- a successful login resets its account's count (not the address's, or logging into one's own account would
  reset the count of guesses against others);
- the counters live in the cache: Redis when `REDIS_URL` is set, shared by every Daphne process; the
  process' memory in the embedded mode, which is one process.

The address is `REMOTE_ADDR`; behind a proxy, run Daphne with `--proxy-headers` so it is the client's.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

PREFIX = "login-throttle"


@dataclass(frozen=True)
class Lockout:
    """A running lockout: what is locked ("account" or "address") and for how many more seconds."""

    scope: str
    retry_after: int

    @property
    def message(self) -> str:
        minutes = max(1, math.ceil(self.retry_after / 60))
        subject = "this account" if self.scope == "account" else "your network address"
        unit = "minute" if minutes == 1 else "minutes"
        return f"Too many failed log-in attempts for {subject}. Try again in {minutes} {unit}."


def client_address(request: HttpRequest | None) -> str | None:
    """The address counted for `request`: REMOTE_ADDR, an IPv6 address widened to its /64 (one subscriber)."""
    if request is None:
        return None
    value = request.META.get("REMOTE_ADDR") or ""
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return value or None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def _targets(request: HttpRequest | None, username: str | None) -> list[tuple[str, str, int]]:
    """(scope, key, limit) for each counter a password check of `username` from `request` touches."""
    targets = []
    if username:
        targets.append(
            ("account", f"{PREFIX}:account:{_digest(username.strip().casefold())}", settings.LOGIN_FAILURE_LIMIT)
        )
    address = client_address(request)
    if address:
        targets.append(("address", f"{PREFIX}:address:{_digest(address)}", settings.LOGIN_ADDRESS_FAILURE_LIMIT))
    return targets


def lockout(request: HttpRequest | None, username: str | None) -> Lockout | None:
    """The lockout that refuses a password check of `username` from `request` now, or None."""
    now = time.time()
    for scope, key, _ in _targets(request, username):
        until = cache.get(f"{key}:locked")
        if until is not None and until > now:
            return Lockout(scope, math.ceil(until - now))
    return None


def record_failure(request: HttpRequest | None, username: str | None) -> Lockout | None:
    """Count a failed password check; returns the lockout it started, if it reached a limit."""
    cooloff = settings.LOGIN_COOLOFF_SECONDS
    started = None
    for scope, key, limit in _targets(request, username):
        count_key = f"{key}:failures"
        if cache.add(count_key, 1, timeout=cooloff):
            count = 1
        else:
            try:
                count = cache.incr(count_key)
            except ValueError:  # expired in between
                cache.add(count_key, 1, timeout=cooloff)
                count = 1
            cache.touch(count_key, timeout=cooloff)
        if count >= limit:
            # add(): a lockout already running (set by another process) is not extended.
            cache.add(f"{key}:locked", time.time() + cooloff, timeout=cooloff)
            cache.delete(count_key)
            started = started or Lockout(scope, cooloff)
    return started


def record_success(username: str) -> None:
    """A successful login resets its account's failure count."""
    for scope, key, _ in _targets(None, username):
        if scope == "account":
            cache.delete(f"{key}:failures")


def reset(request: HttpRequest | None = None, username: str | None = None) -> None:
    """Forget the counts and lockouts of `username` and of `request`'s address (operators, tests)."""
    for _, key, _ in _targets(request, username):
        cache.delete_many([f"{key}:failures", f"{key}:locked"])


def check_password_attempt(user, password: str, request: HttpRequest | None = None) -> bool:
    """`user.check_password(password)` under the throttle, for checks that do not go through authenticate().

    Raises PermissionDenied (with the lockout's message) while the account or address is locked.
    """
    username = user.get_username()
    locked = lockout(request, username)
    if locked is not None:
        raise PermissionDenied(locked.message)
    if user.check_password(password):
        return True
    record_failure(request, username)
    return False


class ThrottledModelBackend(ModelBackend):
    """Django's ModelBackend (username and password, permissions) that refuses checks while locked out.

    Raising PermissionDenied makes authenticate() stop and report the failure; `request.login_lockout`
    tells the failure counter that this one was refused, not wrong, so it is not counted.
    """

    def authenticate(self, request: HttpRequest | None, username: str | None = None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        locked = lockout(request, username)
        if locked is not None:
            if request is not None:
                request.login_lockout = locked
            raise PermissionDenied(locked.message)
        return super().authenticate(request, username=username, password=password, **kwargs)


def on_login_failed(sender, credentials: dict, request: HttpRequest | None = None, **kwargs) -> None:
    if request is not None and getattr(request, "login_lockout", None) is not None:
        return
    record_failure(request, credentials.get(get_user_model().USERNAME_FIELD))


def on_logged_in(sender, request: HttpRequest | None, user, **kwargs) -> None:
    record_success(user.get_username())
