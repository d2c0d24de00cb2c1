"""The model settings page: which endpoint and model Spark and Deep use, and how to change them."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from workspace import llm


@login_required
def settings_page(request: HttpRequest) -> HttpResponse:
    modes = [llm.resolve(mode).public() for mode in llm.MODES]
    for mode in modes:
        mode["prefix"] = mode["mode"].upper()
    return render(
        request,
        "spark/settings.html",
        {
            "modes": modes,
            "ollama_url": settings.OLLAMA_FALLBACK_URL,
            "flush_interval_ms": settings.SPARK_FLUSH_INTERVAL_MS,
            "pending_ttl": settings.SPARK_PENDING_TTL,
        },
    )
