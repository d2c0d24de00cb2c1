"""Settings of the benchmark's Sparkroom servers: the shipped settings, optionally with another channel layer.

BENCH_CHANNEL_LAYER=pubsub swaps channels_redis' list-based RedisChannelLayer for its RedisPubSubChannelLayer,
to measure what that settings change would buy; anything else leaves the shipped settings untouched.
"""

import os

from workspace.settings import *  # noqa: F403
from workspace.settings import REDIS_URL

if os.environ.get("BENCH_CHANNEL_LAYER") == "pubsub" and REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": os.environ.get("CHANNEL_PREFIX", "sparkroom")},
        }
    }
