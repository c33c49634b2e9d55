"""The web chat in headless Chromium (Debian's ``chromium``, driven by Playwright).

Two parts:

* the page against the bare local Bot API server (``python -m localchat.botapi``), the
  bot's side played by hand through the Bot API: HTML entities, inline buttons and
  their answers, a chat action, an edit in place, a deletion, a reply keyboard, the
  command menu, a photo from the bot, a text / photo / file from the person; and a
  page on another origin that tries to drive the control API (refused, nothing sent);
* the whole product as ``scripts/start.sh`` runs it (``python -m localchat``: the real
  inference service with the trained weights, the real bot, the local server):
  open the page, send a real scalp photo (scalp_uze validation split, read from
  ``../shared`` at test time), get the annotated reply (photo, caption, buttons),
  send another one as a file, open the command menu, /history, see the trend chart,
  re-open a result with its button, then Ctrl+C stops everything.

Screenshots go to ``build/screenshots/`` (``webchat_*.png``). Without Chromium or
Playwright the module is skipped, except under CI (``CI=true``), where it fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import pytest

from inference.datasets import valid_photos
from tests.fakes.stack import weights_ready
from tests.paths import ROOT, SHARED

DATASETS = SHARED / "datasets"  # the valid photos the end-to-end tests send

SCREENSHOTS = ROOT / "build" / "screenshots"
TOKEN = "123456:BROWSER-token_for-the-local-bot-api-00"
IN_CI = os.environ.get("CI", "").lower() == "true"
START_TIMEOUT = 240.0
"""Seconds for ``python -m localchat`` to be ready (imports and model loading on a busy CPU)."""
ANSWER_MS = 120_000
"""Milliseconds to wait for the bot's answer to a photo (the real models on a shared CPU)."""
UI_MS = 15_000
STOP_TIMEOUT = 60.0
SCALP_TITLE = "두피 점검 결과"
MOBILE = {"width": 390, "height": 844}


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: the browser test must run)")
    pytest.skip(reason)


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser():
    path = chromium_path()
    if path is None:
        _unavailable("Debian's chromium is not installed (apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, headless=True)
        yield browser
        browser.close()


def new_page(browser, errors: list[str]):
    context = browser.new_context(viewport=MOBILE, device_scale_factor=2, locale="ko-KR",
                                  timezone_id="Asia/Seoul", has_touch=True)
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_default_timeout(UI_MS)
    return page


def shot(page, name: str, **options) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"webchat_{name}.png"
    page.screenshot(path=str(path), **options)
    return path


# --- processes ------------------------------------------------------------------------------------


class Process:
    """A child process whose output is collected by a thread (so the pipe never fills)."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.lines: list[str] = []
        self.proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     encoding="utf-8", errors="replace")
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, pattern: str, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if match := regex.search(line):
                    return match
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"no line matching {pattern!r}; output:\n{self.output[-4000:]}")

    def interrupt(self, timeout: float = STOP_TIMEOUT) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            code = self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(5)
        return code


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "WEBHOOK_"))}
    env.update(YOLO_OFFLINE="1", PYTHONUNBUFFERED="1")
    return env


# --- the Bot API from the bot's side (urllib: the page's event loop is Playwright's) --------------


def bot_api(base: str, method: str, **params) -> dict:
    request = urllib.request.Request(
        f"{base}/bot{TOKEN}/{method}", data=json.dumps(params).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        body = json.loads(response.read())
    assert body["ok"], body
    return body["result"]


def bot_upload(base: str, method: str, field: str, data: bytes, filename: str, **params) -> dict:
    boundary = uuid.uuid4().hex
    parts = []
    for key, value in params.items():
        value = value if isinstance(value, str) else json.dumps(value)
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n'
                     f"{value}\r\n".encode())
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; '
                 f'filename="{filename}"\r\nContent-Type: image/png\r\n\r\n'.encode()
                 + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    request = urllib.request.Request(
        f"{base}/bot{TOKEN}/{method}", data=b"".join(parts),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        body = json.loads(response.read())
    assert body["ok"], body
    return body["result"]


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read()


def updates(base: str, offset: int) -> list[dict]:
    return bot_api(base, "getUpdates", offset=offset, timeout=5)


def next_update(base: str, offset: int, kind: str) -> tuple[dict, int]:
    """The next update of ``kind`` (others are confirmed and skipped), and the next offset."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for update in updates(base, offset):
            offset = update["update_id"] + 1
            if kind in update:
                return update[kind], offset
    raise AssertionError(f"no {kind} update")


def synthetic_png(width: int = 480, height: int = 360, seed: int = 0) -> bytes:
    """A made-up picture (gradient and shapes): nothing from the data sets."""
    x = np.linspace(0, 255, width, dtype=np.uint8)
    image = np.dstack([np.tile(x, (height, 1)), np.full((height, width), 90 + seed, np.uint8),
                       np.tile(x[::-1], (height, 1))])
    cv2.circle(image, (width // 2, height // 2), min(width, height) // 4, (40, 200, 240), -1)
    cv2.rectangle(image, (20, 20), (120, 90), (250, 250, 250), -1)
    ok, data = cv2.imencode(".png", image)
    assert ok
    return data.tobytes()


# --- part 1: the page against the bare local server -----------------------------------------------


@pytest.fixture(scope="module")
def local_server() -> Iterator[str]:
    server = Process([sys.executable, "-m", "localchat.botapi", "--port", "0", "--token", TOKEN,
                      "--quiet"], child_env())
    try:
        url = server.wait_for_line(r"Local Bot API server on (http://\S+)", 60).group(1)
        yield url
    finally:
        server.interrupt(10)


def message(page, message_id: int):
    return page.locator(f".msg[data-message-id='{message_id}']")


def test_page_draws_what_the_bot_sends_and_sends_what_the_person_does(
        browser, local_server, tmp_path):
    base = local_server
    errors: list[str] = []
    page = new_page(browser, errors)
    page.goto(base + "/")
    page.wait_for_selector("body[data-ready='1']")
    assert page.url.endswith("/chat/")
    user_id = int(page.get_attribute("body", "data-user-id"))
    offset = 0

    # the command menu (setMyCommands) becomes the 메뉴 button
    bot_api(base, "setMyCommands", commands=[{"command": "start", "description": "시작하기"},
                                             {"command": "history", "description": "지난 결과"}])
    page.wait_for_selector("#menu-button:visible")

    # the person types text: a message update with the text
    page.fill("#text", "안녕하세요")
    page.press("#text", "Enter")
    sent, offset = next_update(base, offset, "message")
    assert (sent["text"], sent["chat"]["id"]) == ("안녕하세요", user_id)
    page.wait_for_selector(".msg.user >> text=안녕하세요")

    # HTML parse mode, inline keyboard, reply to the person's message
    first = bot_api(
        base, "sendMessage", chat_id=user_id, parse_mode="HTML",
        text='<b>굵게</b>, <i>기울임</i>, <u>밑줄</u>, <code>코드</code>, '
             '<a href="https://example.org/도움말">링크</a>, /history 그리고 &lt;태그&gt;',
        reply_parameters={"message_id": sent["message_id"]},
        reply_markup={"inline_keyboard": [[{"text": "눌러 보기", "callback_data": "press"}],
                                          [{"text": "웹 페이지", "url": "https://example.org"}]]},
    )
    bubble = message(page, first["message_id"])
    bubble.wait_for()
    html = bubble.locator(".text").inner_html()
    for fragment in ("<b>굵게</b>", "<i>기울임</i>", "<u>밑줄</u>", "<code>코드</code>",
                     "&lt;태그&gt;"):
        assert fragment in html
    assert bubble.locator("a[href^='https://example.org/']").inner_text() == "링크"
    assert bubble.locator("a.command").inner_text() == "/history"
    assert bubble.locator(".reply-quote").inner_text().endswith("안녕하세요")

    # a chat action shows in the header until the bot's next message
    bot_api(base, "sendChatAction", chat_id=user_id, action="typing")
    page.wait_for_selector("#status[data-action='typing']")
    assert page.inner_text("#status").startswith("입력 중")
    shot(page, "features_typing")

    # pressing an inline button: a callback query; its answer shows as a toast
    button = bubble.locator("button[data-callback-data='press']")
    button.click()
    query, offset = next_update(base, offset, "callback_query")
    assert (query["data"], query["message"]["message_id"]) == ("press", first["message_id"])
    assert "pending" in (button.get_attribute("class") or "")
    bot_api(base, "answerCallbackQuery", callback_query_id=query["id"], text="눌렀어요!")
    page.wait_for_function("!document.getElementById('toast').hidden"
                           " && document.getElementById('toast').textContent === '눌렀어요!'")
    page.wait_for_function(
        "!document.querySelector(\"button[data-callback-data='press']\").classList.contains('pending')")

    # the bot's next message ends the chat action; a photo with an HTML caption
    photo = bot_upload(base, "sendPhoto", "photo", synthetic_png(), "chart.png",
                       chat_id=str(user_id), caption="<b>캡션</b> 입니다", parse_mode="HTML")
    photo_bubble = message(page, photo["message_id"])
    photo_bubble.locator("img.photo[data-loaded='1']").wait_for()
    assert photo_bubble.locator(".caption b").inner_text() == "캡션"
    page.wait_for_selector("#status[data-action='']")
    assert page.inner_text("#status") == "봇"

    # an edit replaces the message in place; a deletion removes it
    count = page.locator(".msg").count()
    bot_api(base, "editMessageText", chat_id=user_id, message_id=first["message_id"],
            text="<b>고친</b> 글", parse_mode="HTML")
    page.wait_for_selector(f".msg[data-message-id='{first['message_id']}'] >> text=고친 글")
    edited = message(page, first["message_id"])
    assert "수정됨" in edited.locator(".meta").inner_text()
    assert edited.locator(".inline-keyboard").count() == 0  # no reply_markup: keyboard removed
    assert page.locator(".msg").count() == count
    bot_api(base, "deleteMessage", chat_id=user_id, message_id=first["message_id"])
    edited.wait_for(state="detached")

    # a one-time reply keyboard: its buttons send their text, then it goes away
    bot_api(base, "sendMessage", chat_id=user_id, text="고르세요",
            reply_markup={"keyboard": [[{"text": "예"}, {"text": "아니오"}]],
                          "one_time_keyboard": True, "input_field_placeholder": "예 또는 아니오"})
    page.wait_for_selector("#reply-keyboard:visible")
    assert page.get_attribute("#text", "placeholder") == "예 또는 아니오"
    shot(page, "features_reply_keyboard")
    page.click("#reply-keyboard button >> text=아니오")
    answer, offset = next_update(base, offset, "message")
    assert answer["text"] == "아니오"
    page.wait_for_selector("#reply-keyboard", state="hidden")
    assert page.get_attribute("#text", "placeholder") == "메시지"

    # the menu sends a command; a /command in a message is a link that sends it too
    page.click("#menu-button")
    page.click("#command-menu button[data-command='/history']")
    command, offset = next_update(base, offset, "message")
    assert command["text"] == "/history"
    assert command["entities"] == [{"type": "bot_command", "offset": 0, "length": 8}]

    # a picture from the person: as a photo (sizes), then as a file (a document, bytes kept)
    picture = tmp_path / "그림.png"
    picture.write_bytes(synthetic_png(640, 480, seed=7))
    page.set_input_files("#file-input", str(picture))
    page.wait_for_selector("#photo-dialog[open]")
    page.fill("#photo-caption", "사진 설명")
    shot(page, "features_photo_dialog")
    page.click("#photo-send")
    as_photo, offset = next_update(base, offset, "message")
    assert as_photo["caption"] == "사진 설명"
    assert (as_photo["photo"][-1]["width"], as_photo["photo"][-1]["height"]) == (640, 480)
    page.set_input_files("#file-input", str(picture))
    page.wait_for_selector("#photo-dialog[open]")
    page.check("input[name='send-as'][value='document']")
    page.click("#photo-send")
    as_file, offset = next_update(base, offset, "message")
    document = as_file["document"]
    assert (document["file_name"], document["mime_type"]) == ("그림.png", "image/png")
    page.wait_for_selector(".msg.user[data-kind='document'] >> text=그림.png")
    sent_photo = f".msg.user[data-message-id='{as_photo['message_id']}']"
    page.wait_for_selector(sent_photo + " img.photo[data-loaded='1']")
    shot(page, "features")
    assert errors == []


EVIL_PAGE = """<!doctype html><meta charset="utf-8"><title>another site</title>
<form id="attack" method="post" action="BASE/_control/updates/text">
  <input name="user_id" value="USER"><input name="text" value="/delete">
</form>
<script>
window.results = {};
(async () => {
  try {
    const r = await fetch("BASE/_control/secret");
    window.results.secret = await r.text();
  } catch (error) { window.results.secret = "blocked"; }
  try {
    await fetch("BASE/_control/updates/text", { method: "POST", mode: "no-cors",
      headers: { "Content-Type": "text/plain" }, body: JSON.stringify({ user_id: USER, text: "/delete" }) });
    window.results.nocors = "sent";
  } catch (error) { window.results.nocors = "blocked"; }
  window.results.done = true;
})();
</script>"""


class _EvilSite:
    """Another origin (a second loopback port) serving :data:`EVIL_PAGE`."""

    def __init__(self, page: str) -> None:
        body = page.encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_another_site_cannot_drive_the_local_server(browser, local_server):
    base = local_server
    user_id = 987_654_321
    site = _EvilSite(EVIL_PAGE.replace("BASE", base).replace("USER", str(user_id)))
    errors: list[str] = []
    page = new_page(browser, errors)
    sent: list[tuple[str, str]] = []

    def record(request) -> None:
        if "/_control/" in request.url:
            sent.append((request.method, request.url.removeprefix(base)))

    def form_post(response) -> bool:
        return (response.url == f"{base}/_control/updates/text"
                and response.request.resource_type == "document")

    page.on("request", record)
    try:
        page.goto(site.url)
        page.wait_for_function("window.results && window.results.done")
        results = page.evaluate("window.results")
        with page.expect_response(form_post) as posted:  # the form navigates the page
            page.evaluate("document.getElementById('attack').submit()")
    finally:
        site.close()
        page.context.close()
    assert posted.value.status == 403
    assert results["secret"] == "blocked"  # the secret is not readable from another origin
    # all three reached the server (the no-cors post's 403 is opaque to the page) ...
    assert sorted(sent) == [("GET", "/_control/secret"), ("POST", "/_control/updates/text"),
                            ("POST", "/_control/updates/text")], sent
    # ... and none became a message from that user
    assert not [u for u in updates(base, 0)
                if (u.get("message") or {}).get("from", {}).get("id") == user_id]


# --- part 2: the whole product, as scripts/start.sh runs it ---------------------------------------


@pytest.fixture(scope="module")
def stack():
    if not weights_ready():
        _unavailable("the trained weights are not in weights/")
    if not [p for p in valid_photos(DATASETS, "scalp_uze") if "Top-Down" in p.name]:
        _unavailable("the scalp_uze validation photos are not in ../shared")
    process = Process([sys.executable, "-m", "localchat", "--port", "0", "--inference-port", "0"],
                      child_env())
    try:
        url = process.wait_for_line(r"WEB_CHAT_URL=(\S+)", START_TIMEOUT).group(1)
        yield process, url
    finally:
        process.interrupt()


def crowns() -> list[Path]:
    return [p for p in valid_photos(DATASETS, "scalp_uze") if "Top-Down" in p.name]


def bot_photos_after(page, message_id: int) -> int:
    return page.evaluate(
        """(after) => [...document.querySelectorAll('.msg.bot[data-kind="photo"]')]
              .filter((m) => Number(m.dataset.messageId) > after
                             && m.querySelector('img.photo[data-loaded="1"]')).length""",
        message_id)


def send_picture(page, path: Path, as_photo: bool) -> int:
    """Pick ``path`` in the page and send it; the message_id of the person's message."""
    before = page.evaluate("Math.max(0, ...[...document.querySelectorAll('.msg')]"
                           ".map((m) => Number(m.dataset.messageId)))")
    page.set_input_files("#file-input", str(path))
    page.wait_for_selector("#photo-dialog[open]")
    if not as_photo:
        page.check("input[name='send-as'][value='document']")
    page.click("#photo-send")
    kind = "photo" if as_photo else "document"
    handle = page.wait_for_function(
        f"""() => {{ const m = [...document.querySelectorAll('.msg.user[data-kind="{kind}"]')]
                     .find((m) => Number(m.dataset.messageId) > {before});
                     return m ? Number(m.dataset.messageId) : null; }}""")
    return int(handle.json_value())


def reply_to(page, message_id: int):
    """The bot's photo that replies to the person's message ``message_id``, once loaded."""
    page.wait_for_function(
        """(id) => [...document.querySelectorAll('.msg.bot[data-kind="photo"]')].some((m) =>
              m.querySelector('img.photo[data-loaded="1"]') && m.dataset.replyTo === String(id))""",
        arg=message_id, timeout=ANSWER_MS)
    return page.locator(f".msg.bot[data-kind='photo'][data-reply-to='{message_id}']").first


def test_scalp_photo_reply_history_chart_in_the_browser(browser, stack):
    process, url = stack
    errors: list[str] = []
    page = new_page(browser, errors)
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']")
    assert page.inner_text("#bot-name") == "두피·피부 셀프 체크"

    page.fill("#text", "/start")
    page.press("#text", "Enter")
    page.wait_for_selector(".msg.bot >> text=안녕하세요", timeout=ANSWER_MS)
    page.wait_for_selector("#menu-button:visible")
    # Korean wraps between words: the bubble keeps each word whole
    assert page.locator(".msg.bot .bubble").first.evaluate("(b) => getComputedStyle(b).wordBreak") == "keep-all"
    # /start's answer is the framing guide picture with its caption
    guide = page.locator(".msg.bot[data-kind='photo']").first
    page.wait_for_function("() => document.querySelector('.msg.bot[data-kind=\"photo\"] img.photo[data-loaded=\"1\"]')",
                           timeout=ANSWER_MS)
    assert "점검 결과가 뜻하는 것" in guide.locator(".caption").inner_text()
    guide.evaluate("(m) => m.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(300)
    shot(page, "01_start")

    # a real crown photo, sent as a photo: one annotated photo with caption and buttons
    first_photo = crowns()[0]
    sent = send_picture(page, first_photo, as_photo=True)
    reply = reply_to(page, sent)
    caption = reply.locator(".caption").inner_text()
    assert caption.startswith(SCALP_TITLE), caption
    assert ("확신도" in caption or "판단 어려움" in caption) and "의학적 진단이 아닙니다" in caption
    assert len(caption) <= 900  # one answer that fits a phone screen (bot.limits.ANSWER_TEXT_LIMIT)
    buttons = reply.locator(".inline-keyboard button")
    data = [buttons.nth(i).get_attribute("data-callback-data") for i in range(buttons.count())]
    assert data and data[-1].startswith("rerun:")
    assert all(d.startswith(("tips:", "rerun:")) for d in data)
    src = reply.locator("img.photo").get_attribute("src")
    annotated = fetch(src)
    original = first_photo.read_bytes()
    assert annotated[:3] == b"\xff\xd8\xff" and annotated != original
    size = reply.locator("img.photo").evaluate("(img) => [img.naturalWidth, img.naturalHeight]")
    assert min(size) > 100
    reply.scroll_into_view_if_needed()
    reply.evaluate("(m) => m.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(300)
    shot(page, "02_annotated_reply")
    reply.screenshot(path=str(SCREENSHOTS / "webchat_02_annotated_reply_message.png"))

    # a second one sent as a file (a document): the bot answers it the same way
    sent_file = send_picture(page, crowns()[1], as_photo=False)
    second = reply_to(page, sent_file)
    assert second.locator(".caption").inner_text().startswith(SCALP_TITLE)

    # the command menu: /history, the list with its buttons, then the trend chart
    page.click("#menu-button")
    page.wait_for_selector("#command-menu:visible")
    shot(page, "03_menu")
    page.click("#command-menu button[data-command='/history']")
    history_id = int(page.wait_for_function(
        """() => { const m = [...document.querySelectorAll('.msg.user[data-kind="text"]')]
                   .find((m) => m.innerText.startsWith('/history'));
                   return m ? Number(m.dataset.messageId) : null; }""").json_value())
    page.wait_for_function("(after) => [...document.querySelectorAll('.msg.bot')].some((m) =>"
                           " Number(m.dataset.messageId) > after"
                           " && m.querySelector(\"button[data-callback-data^='open:']\"))",
                           arg=history_id, timeout=ANSWER_MS)
    page.wait_for_function(
        "(after) => [...document.querySelectorAll('.msg.bot[data-kind=\"photo\"]')].some((m) =>"
        " Number(m.dataset.messageId) > after && m.querySelector('img.photo[data-loaded=\"1\"]'))",
        arg=history_id, timeout=ANSWER_MS)
    chart = page.locator(".msg.bot[data-kind='photo']").last
    chart_png = fetch(chart.locator("img.photo").get_attribute("src"))
    assert chart_png[:8] == b"\x89PNG\r\n\x1a\n"
    assert chart.locator("img.photo").evaluate("(img) => img.naturalWidth") > 300
    chart.evaluate("(m) => m.scrollIntoView({block: 'end'})")
    page.wait_for_timeout(300)
    shot(page, "04_history_chart")

    # a history button re-opens a result: the same annotated photo again
    chart_id = int(chart.get_attribute("data-message-id"))
    opener = page.locator("button[data-callback-data^='open:']").first
    opener.click()
    page.wait_for_function(
        "(after) => [...document.querySelectorAll('.msg.bot[data-kind=\"photo\"]')].some((m) =>"
        " Number(m.dataset.messageId) > after && m.querySelector('img.photo[data-loaded=\"1\"]'))",
        arg=chart_id, timeout=ANSWER_MS)
    reopened = page.locator(".msg.bot[data-kind='photo']").last
    assert fetch(reopened.locator("img.photo").get_attribute("src")) in (annotated, fetch(
        second.locator("img.photo").get_attribute("src")))
    assert reopened.locator(".caption").inner_text().startswith(SCALP_TITLE)
    page.wait_for_timeout(300)
    shot(page, "05_reopened")
    page.set_viewport_size({"width": 1280, "height": 800})
    reopened.evaluate("(m) => m.scrollIntoView({block: 'end'})")
    page.wait_for_timeout(300)
    shot(page, "06_desktop")
    assert errors == []


def test_ctrl_c_stops_the_whole_stack(browser, stack):
    process, _ = stack
    pids = [int(m) for m in re.findall(r"started \w+ \(pid (\d+)\)", process.output)]
    assert len(pids) == 2, process.output[-3000:]
    assert process.interrupt() == 0, process.output[-3000:]
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert "bot stopped (status 0)" in process.output
    assert "inference stopped (status 0)" in process.output
