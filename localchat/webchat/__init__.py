"""A small web chat on the local Bot API server: one person chats with the bot in a browser.

``GET /chat/`` serves a page (plain HTML, CSS and JavaScript in this folder, no
external requests) that plays one user of the server's first bot through the
control API and draws the chat as a Telegram client would: text with its
entities, photos with captions, inline keyboards (pressing a button sends a
callback query), reply keyboards, edits in place, deleted messages removed,
chat actions ("입력 중…") and the bot's command menu. It follows the chat with
the ``/_control/chats/{id}/feed`` long poll.

``GET /`` redirects to the page. Korean glyphs come from the Noto Sans KR font of
the ``pylopdf-fonts-ko`` package (a project dependency), served as
``/chat/font/NotoSansKR-Regular.otf``, so the page looks the same on a machine
without Korean system fonts (headless Chromium in CI).

Control calls carry the server's control secret (``X-Control-Secret``): the page
reads the random one from ``GET /_control/secret``, which answers only its own
origin (see :mod:`localchat.botapi.guard`); when the server was started with an
explicit ``--control-secret``, open the page as ``/chat/#secret=...``. Pictures and
files are loaded from ``/_control/files/{file_id}`` (no secret: the random file_id is
the key). The server answers only loopback ``Host`` names and its own ``Origin``,
and no other site may frame the page.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from aiohttp import web

__all__ = ["CHAT_PATH", "FONT_NAME", "add_routes"]

CHAT_PATH = "/chat/"
FONT_NAME = "NotoSansKR-Regular.otf"
FONT_PACKAGE = "pylopdf_fonts_ko"
STATIC_DIR = Path(__file__).parent
STATIC_FILES = {
    "": ("index.html", "text/html"),
    "index.html": ("index.html", "text/html"),
    "chat.css": ("chat.css", "text/css"),
    "chat.js": ("chat.js", "text/javascript"),
    "manifest.json": ("manifest.json", "application/manifest+json"),
}
NO_CACHE = {"Cache-Control": "no-cache"}
FONT_CACHE = {"Cache-Control": "public, max-age=86400"}


def _font_path() -> Path | None:
    spec = importlib.util.find_spec(FONT_PACKAGE)
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / FONT_NAME
    return path if path.is_file() else None


async def redirect_to_chat(request: web.Request) -> web.StreamResponse:
    """``GET /``: the web chat."""
    raise web.HTTPFound(CHAT_PATH)


async def static_file(request: web.Request) -> web.StreamResponse:
    """``GET /chat/{name}``: the page, its stylesheet and script."""
    entry = STATIC_FILES.get(request.match_info.get("name", ""))
    if entry is None:
        raise web.HTTPNotFound()
    name, content_type = entry
    body = (STATIC_DIR / name).read_bytes()
    return web.Response(body=body, content_type=content_type, charset="utf-8", headers=NO_CACHE)


async def font(request: web.Request) -> web.StreamResponse:
    """``GET /chat/font/NotoSansKR-Regular.otf`` (404 without the font package)."""
    path = _font_path()
    if path is None:
        raise web.HTTPNotFound()
    return web.FileResponse(path, headers={**FONT_CACHE, "Content-Type": "font/otf"})


def add_routes(app: web.Application) -> None:
    """Register ``/``, ``/chat`` and ``/chat/...``."""
    app.add_routes(
        [
            web.get("/", redirect_to_chat),
            web.get("/chat", redirect_to_chat),
            web.get("/chat/font/" + FONT_NAME, font),
            web.get(CHAT_PATH + "{name:[A-Za-z0-9_.-]*}", static_file),
        ]
    )
