"""The Django side of the chat: just enough Django for a Channels app.

CHANNEL_LAYER_URL picks the layer, the same URL the Node server reads:
  redis://host:port/db?prefix=asgi         -> channels_redis.core.RedisChannelLayer
  redis+pubsub://host:port/db?prefix=asgi  -> channels_redis.pubsub.RedisPubSubChannelLayer
  tcp://host:port, tls://…, unix:///path   -> channel_layers.BrokerChannelLayer (no Redis:
                                              the broker of `channel-layers serve`, docs/python.md)
"""
import os
from urllib.parse import parse_qs, urlsplit

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "django-chat-example-not-secret")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]
INSTALLED_APPS = ["channels", "chat"]
ROOT_URLCONF = "chatsite.urls"
ASGI_APPLICATION = "chatsite.asgi.application"
USE_TZ = True


def channel_layers(url):
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    scheme = parts.scheme
    backends = {
        "redis": "channels_redis.core.RedisChannelLayer",
        "rediss": "channels_redis.core.RedisChannelLayer",
        "redis+pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "rediss+pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
    }
    if scheme in ("tcp", "tls", "unix"):
        # A token rides in the URL's password (tcp://:token@host:port); the layer reads it there.
        return {"default": {"BACKEND": "channel_layers.BrokerChannelLayer", "CONFIG": {"url": url}}}
    if scheme not in backends:
        raise ValueError(
            f"CHANNEL_LAYER_URL must be redis://, rediss://, redis+pubsub://, rediss+pubsub://, tcp://, tls:// or unix://, got {url!r}"
        )
    server = parts._replace(scheme=scheme.replace("+pubsub", ""), query="").geturl()
    config = {"hosts": [server]}
    if "prefix" in query:
        config["prefix"] = query["prefix"][0]
    return {"default": {"BACKEND": backends[scheme], "CONFIG": config}}


CHANNEL_LAYERS = channel_layers(os.environ.get("CHANNEL_LAYER_URL", "redis://127.0.0.1:6379/1"))
