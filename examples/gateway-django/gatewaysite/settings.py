"""The smallest Django project that serves a channel-layers gateway route.

CHANNEL_LAYERS is the usual channels_redis configuration; REDIS_URL and
CHANNEL_PREFIX let the test point it at its own keys.
"""
import os

SECRET_KEY = "example-only-not-a-secret"
DEBUG = False
ALLOWED_HOSTS: list[str] = []
INSTALLED_APPS = ["channels", "thumbs"]
USE_TZ = True

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")],
            "prefix": os.environ.get("CHANNEL_PREFIX", "asgi"),
        },
    }
}
