"""Issue #11 item 6: Django's password validators, a login throttle per account and per address that every
password check goes through (log-in page, admin log-in, admin password change), shared by every Daphne
process, and an admin only staff reach."""

from __future__ import annotations

import time

import httpx
import pytest
from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client, RequestFactory

from tests.support.helpers import PASSWORD
from workspace.accounts import throttle

ADDRESSES = ("127.0.0.1", "10.0.0.9", "2001:db8::1", "2001:db8::2", "2001:db8:0:1::1")
USERS = ("alice", "bob", "carol", "staff", "ghost")


def address_request(address: str = "127.0.0.1"):
    return RequestFactory().get("/", REMOTE_ADDR=address)


@pytest.fixture(autouse=True)
def forget_counts():
    """The counts live in the run's shared cache (Redis in production mode): never leave a lockout behind."""

    def forget() -> None:
        for address in ADDRESSES:
            for username in USERS:
                throttle.reset(address_request(address), username)

    forget()
    yield
    forget()


def post_login(client: Client, username: str, password: str, address: str = "127.0.0.1", url="/accounts/login/"):
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=address)


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


# --- Passwords ----------------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.embedded
@pytest.mark.parametrize("weak", ["password", "12345678", "1234567890123", "sparkroom", "newbie-newbie"])
def test_signup_refuses_weak_passwords(weak):
    response = Client().post("/accounts/signup/", {"username": "newbie-newbie", "password1": weak, "password2": weak})
    assert response.status_code == 200
    assert response.context["form"].errors["password2"]
    assert not get_user_model().objects.filter(username="newbie-newbie").exists()


@pytest.mark.embedded
def test_the_full_set_of_django_validators_is_on_and_the_test_password_passes():
    names = {validator["NAME"].rsplit(".", 1)[1] for validator in settings.AUTH_PASSWORD_VALIDATORS}
    assert names == {
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    }
    validate_password(PASSWORD)
    with pytest.raises(ValidationError):
        validate_password("short-1")


# --- The throttle -------------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.embedded
def test_an_account_is_locked_after_the_failure_limit_even_for_the_right_password(user):
    client = Client()
    for _ in range(settings.LOGIN_FAILURE_LIMIT - 1):
        assert post_login(client, "alice", "wrong password").status_code == 200
    last = post_login(client, "alice", "wrong password")
    assert last.status_code == 429 and b"Too many failed log-in attempts for this account" in last.content
    refused = post_login(client, "alice", PASSWORD, address="10.0.0.9")  # from anywhere
    assert refused.status_code == 429
    assert b"Too many failed log-in attempts for this account. Try again in 15 minutes." in refused.content
    assert 890 <= int(refused["Retry-After"]) <= 900
    assert not logged_in(client)
    assert authenticate(address_request("10.0.0.9"), username="alice", password=PASSWORD) is None


@pytest.mark.django_db
@pytest.mark.embedded
def test_forty_fast_wrong_logins_never_reach_a_success(user):
    client = Client()
    statuses = [post_login(client, "alice", f"guess {n}").status_code for n in range(40)]
    assert statuses.count(429) >= 40 - settings.LOGIN_FAILURE_LIMIT
    assert post_login(client, "alice", PASSWORD).status_code == 429 and not logged_in(client)


@pytest.mark.django_db
@pytest.mark.embedded
def test_an_address_is_locked_after_its_limit_across_accounts(user, other_user, settings):
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 8
    client = Client()
    for n in range(settings.LOGIN_ADDRESS_FAILURE_LIMIT):
        post_login(client, f"user{n}", "wrong password")  # spraying: no account reaches its own limit
    refused = post_login(client, "bob", PASSWORD)
    assert refused.status_code == 429 and b"for your network address" in refused.content
    assert not logged_in(client)
    elsewhere = Client()
    assert post_login(elsewhere, "bob", PASSWORD, address="10.0.0.9").status_code == 302
    assert logged_in(elsewhere)


@pytest.mark.embedded
def test_ipv6_addresses_count_per_64_network():
    assert throttle.client_address(address_request("2001:db8::1")) == throttle.client_address(
        address_request("2001:db8::2")
    )
    assert throttle.client_address(address_request("2001:db8::1")) != throttle.client_address(
        address_request("2001:db8:0:1::1")
    )
    assert throttle.client_address(address_request("::ffff:10.0.0.9")) == "10.0.0.9"
    assert throttle.client_address(address_request("10.0.0.9")) == "10.0.0.9"


@pytest.mark.django_db
@pytest.mark.embedded
def test_a_successful_login_resets_the_accounts_count(user):
    client = Client()
    for _ in range(settings.LOGIN_FAILURE_LIMIT - 1):
        post_login(client, "alice", "wrong password")
    assert post_login(client, "alice", PASSWORD).status_code == 302
    client.logout()
    for _ in range(settings.LOGIN_FAILURE_LIMIT - 1):
        assert post_login(client, "alice", "wrong password").status_code == 200
    assert post_login(client, "alice", PASSWORD).status_code == 302


@pytest.mark.django_db
@pytest.mark.embedded
def test_a_success_does_not_reset_the_addresss_count_of_guesses_at_other_accounts(user, other_user, settings):
    """An attacker logging into their own account between guesses must not clear the address's count."""
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 8
    client = Client()
    for n in range(settings.LOGIN_ADDRESS_FAILURE_LIMIT - 1):
        post_login(client, f"user{n}", "wrong password")
    assert post_login(client, "bob", PASSWORD).status_code == 302
    client.logout()
    post_login(client, "user-last", "wrong password")
    assert post_login(client, "alice", PASSWORD).status_code == 429


@pytest.mark.django_db
@pytest.mark.embedded
def test_the_lockout_ends_after_the_cooloff_and_refused_attempts_do_not_extend_it(user, settings):
    settings.LOGIN_COOLOFF_SECONDS = 2
    client = Client()
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        post_login(client, "alice", "wrong password")
    locked_at = time.monotonic()
    time.sleep(1)
    assert post_login(client, "alice", "wrong again").status_code == 429  # refused, not counted
    assert post_login(client, "alice", PASSWORD).status_code == 429
    time.sleep(max(0.0, 2.3 - (time.monotonic() - locked_at)))
    assert post_login(client, "alice", PASSWORD).status_code == 302
    assert logged_in(client)


@pytest.mark.django_db
@pytest.mark.embedded
def test_a_password_check_without_a_request_is_still_counted_per_account(user):
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        assert authenticate(username="alice", password="wrong password") is None
    assert authenticate(username="alice", password=PASSWORD) is None
    assert post_login(Client(), "alice", PASSWORD).status_code == 429


# --- The admin ----------------------------------------------------------------------------------------------------


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_user(username="staff", password=PASSWORD, is_staff=True, is_superuser=True)


@pytest.mark.django_db
@pytest.mark.embedded
def test_only_staff_reach_the_admin(user, staff):
    anonymous = Client().get("/admin/")
    assert anonymous.status_code == 302 and anonymous["Location"] == "/admin/login/?next=/admin/"
    member = Client()
    member.force_login(user)
    for url in ("/admin/", "/admin/auth/user/", "/admin/password_change/"):
        response = member.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/?next="), url
    assert post_login(Client(), "alice", PASSWORD, url="/admin/login/").status_code == 200  # not staff: no entry
    admin = Client()
    admin.force_login(staff)
    assert admin.get("/admin/").status_code == 200
    assert admin.get("/admin/auth/user/").status_code == 200


@pytest.mark.django_db
@pytest.mark.embedded
def test_the_admin_login_is_throttled_and_shares_the_lockout(staff):
    client = Client()
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        post_login(client, "staff", "wrong password", url="/admin/login/")
    refused = post_login(client, "staff", PASSWORD, url="/admin/login/")
    assert b"Too many failed log-in attempts for this account" in refused.content
    assert client.get("/admin/").status_code == 302
    assert post_login(Client(), "staff", PASSWORD).status_code == 429  # the site's log-in is locked too


@pytest.mark.django_db
@pytest.mark.embedded
def test_the_admin_password_change_checks_the_old_password_under_the_throttle(staff):
    client = Client()
    client.force_login(staff)
    new = "a-brand-new-passphrase"

    def change(old: str):
        data = {"old_password": old, "new_password1": new, "new_password2": new}
        return client.post("/admin/password_change/", data, REMOTE_ADDR="127.0.0.1")

    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        assert b"old password was entered incorrectly" in change("wrong password").content
    refused = change(PASSWORD)
    assert refused.status_code == 200 and b"Too many failed log-in attempts for this account" in refused.content
    staff.refresh_from_db()
    assert staff.check_password(PASSWORD)
    throttle.reset(address_request(), "staff")
    assert change(PASSWORD).status_code == 302
    staff.refresh_from_db()
    assert staff.check_password(new)


# --- Several Daphne processes -------------------------------------------------------------------------------------


def live_login(base_url: str, username: str, password: str) -> httpx.Response:
    with httpx.Client(base_url=base_url, timeout=10) as client:
        client.get("/accounts/login/")
        token = client.cookies["csrftoken"]
        return client.post(
            "/accounts/login/", data={"username": username, "password": password, "csrfmiddlewaretoken": token}
        )


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_failures_through_two_daphne_processes_add_up_and_lock_both(user, live_server_url, django_db_blocker):
    from tests.support.live import daphne_server

    with django_db_blocker.unblock(), daphne_server() as second_url:
        servers = [live_server_url, second_url]
        for n in range(settings.LOGIN_FAILURE_LIMIT):
            response = live_login(servers[n % 2], "alice", "wrong password")
            assert response.status_code == (429 if n == settings.LOGIN_FAILURE_LIMIT - 1 else 200)
        for url in servers:
            refused = live_login(url, "alice", PASSWORD)
            assert refused.status_code == 429 and "Too many failed log-in attempts" in refused.text
        assert throttle.lockout(None, "alice") is not None  # the count is in the shared cache
        throttle.reset(address_request(), "alice")
        assert live_login(second_url, "alice", PASSWORD).status_code == 302
