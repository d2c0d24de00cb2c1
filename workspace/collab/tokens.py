"""Short-lived signed tokens that let non-browser clients join a file's room."""

from __future__ import annotations

from django.conf import settings
from django.core import signing

SALT = "sparkroom.collab.token"


def issue_token(user_id: int, file_id: int) -> str:
    return signing.TimestampSigner(salt=SALT).sign_object({"u": user_id, "f": file_id})


def read_token(token: str, file_id: int) -> int | None:
    """The user id the token was issued to, if valid, unexpired and for this file."""
    try:
        data = signing.TimestampSigner(salt=SALT).unsign_object(token, max_age=settings.COLLAB_TOKEN_MAX_AGE)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or data.get("f") != file_id:
        return None
    return data.get("u")
