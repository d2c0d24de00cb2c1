"""Celery app and background jobs."""

from tasks.celery import app as celery_app

__all__ = ["celery_app"]
