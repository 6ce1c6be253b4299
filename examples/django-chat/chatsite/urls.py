"""The chat page, the same files the Node server serves (examples/chat/public)."""
from pathlib import Path

from django.http import FileResponse, Http404
from django.urls import path

EXAMPLES = Path(__file__).resolve().parent.parent.parent
PUBLIC = EXAMPLES / "chat" / "public"
FILES = {
    "": (PUBLIC / "index.html", "text/html; charset=utf-8"),
    "app.js": (PUBLIC / "app.js", "text/javascript; charset=utf-8"),
    "style.css": (PUBLIC / "style.css", "text/css; charset=utf-8"),
    # The page imports the package's browser client, as the Node server serves it.
    "channel-layers/browser.js": (EXAMPLES.parent / "src" / "browser" / "index.js", "text/javascript; charset=utf-8"),
}


def static_file(request, name=""):
    if name not in FILES:
        raise Http404()
    file, content_type = FILES[name]
    response = FileResponse(open(file, "rb"), content_type=content_type)
    response["Cache-Control"] = "no-cache"
    return response


urlpatterns = [path("", static_file), path("<path:name>", static_file)]
