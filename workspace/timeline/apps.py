"""The timeline app: blame, reviews of AI-written lines, authorship summaries."""

from django.apps import AppConfig


class TimelineConfig(AppConfig):
    name = "workspace.timeline"
    label = "timeline"
    verbose_name = "File authorship and history"
