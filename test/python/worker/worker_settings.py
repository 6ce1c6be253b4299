"""The least Django a Channels worker needs: `python3 -m django runworker`
with its layer on the broker at BROKER_URL (test/python/runworker.test.ts)."""
import os

SECRET_KEY = "runworker-test-not-secret"
INSTALLED_APPS = ["channels"]
ASGI_APPLICATION = "worker_app.application"
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channel_layers.BrokerChannelLayer",
        "CONFIG": {"url": os.environ["BROKER_URL"]},
    },
}
