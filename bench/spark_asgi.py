"""Bench-only ASGI entry: Sparkroom with every process-local channel on channels_redis' shared receive list.

channels_redis lets one coroutine per process block on BZPOPMIN at a time (its receive lock). Channels made
with a custom prefix (new_channel(prefix="ydocroom.")) live in their own Redis list, so while the lock holder
waits on one list, messages on the other wait too (up to brpop_timeout = 5 s). This entry point forces the
default prefix to measure what that costs (`python bench/spark.py --shared-receive-list`).
"""

from channels_redis.core import RedisChannelLayer

_new_channel = RedisChannelLayer.new_channel


async def _shared_list_channel(self, prefix: str = "specific") -> str:
    return await _new_channel(self)


RedisChannelLayer.new_channel = _shared_list_channel

from workspace.asgi import application  # noqa: E402, F401
