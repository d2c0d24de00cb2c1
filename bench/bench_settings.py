"""Settings of the benchmark's Sparkroom servers: the shipped settings, with the rooms on a chosen channel layer.

BENCH_CHANNEL_LAYER picks the layer that carries the rooms' traffic between the Daphne processes:
- pubsub (shipped default): workspace.pubsub_layer.RedisPubSubLayer;
- list: channels_redis' list-based RedisChannelLayer (ROOMS_CHANNEL_LAYER=list);
- channels-redis-pubsub: channels_redis' RedisPubSubChannelLayer, which the shipped settings never use.

BENCH_CELERY_TRANSPORT=stock puts the embedded mode's broker on kombu's own memory transport (which polls
every second) instead of the shipped event-driven one (tasks/embedded.py): bench/jobs.py's reference.
"""

import os

from workspace.settings import *  # noqa: F403
from workspace.settings import CHANNEL_LAYERS, REDIS_URL

if os.environ.get("BENCH_CHANNEL_LAYER") == "channels-redis-pubsub" and REDIS_URL:
    CHANNEL_LAYERS["rooms"] = {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": os.environ.get("CHANNEL_PREFIX", "sparkroom") + ".rooms"},
    }

if os.environ.get("BENCH_CELERY_TRANSPORT") == "stock":
    CELERY_BROKER_TRANSPORT = None
