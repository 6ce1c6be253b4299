"""The chat page, the same files the Node server serves (examples/chat/public)."""
from pathlib import Path

from django.http import FileResponse, Http404
from django.urls import path

PUBLIC = Path(__file__).resolve().parent.parent.parent / "chat" / "public"
FILES = {"": ("index.html", "text/html; charset=utf-8"), "app.js": ("app.js", "text/javascript; charset=utf-8"), "style.css": ("style.css", "text/css; charset=utf-8")}


def static_file(request, name=""):
    if name not in FILES:
        raise Http404()
    file, content_type = FILES[name]
    response = FileResponse(open(PUBLIC / file, "rb"), content_type=content_type)
    response["Cache-Control"] = "no-cache"
    return response


urlpatterns = [path("", static_file), path("<str:name>", static_file)]
