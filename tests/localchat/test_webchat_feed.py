"""The web chat's server side: its static files and the ``chats/{id}/feed`` long poll.

The local Bot API server runs in this process; the bot's side is played with
python-telegram-bot's ``telegram.Bot`` against it, the user's with the control
API. The browser itself is tested in ``tests/localchat/test_webchat_browser.py``.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
import telegram
from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import ChatAction

from localchat.botapi import LocalApiClient, Settings, serve

TOKEN = "123456:FEED-token_for-the-local-bot-api-0000"
SECRET = "feed-control-secret-0123"
WAKE_UP_LIMIT = 1.5


@pytest.fixture(autouse=True)
def _timedelta_attributes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


@pytest.fixture
async def server():
    async with serve(Settings(tokens=(TOKEN,))) as running:
        yield running


@pytest.fixture
async def tg(server):
    async with LocalApiClient(server.url) as client:
        yield client


@pytest.fixture
async def bot(server):
    async with telegram.Bot(TOKEN, base_url=server.base_url,
                            base_file_url=server.base_file_url) as b:
        yield b


async def feed(tg: LocalApiClient, chat_id: int, **query) -> dict:
    return await tg.get(f"chats/{chat_id}/feed", **query)


async def test_page_font_and_redirects(server):
    async with aiohttp.ClientSession() as session:
        async with session.get(server.url + "/", allow_redirects=False) as response:
            assert response.status == 302
            assert response.headers["Location"] == "/chat/"
        async with session.get(server.chat_url) as response:
            assert response.status == 200
            assert response.content_type == "text/html"
            page = await response.text()
            assert '<html lang="ko">' in page and "chat.js" in page and "viewport" in page
            assert "http://" not in page and "https://" not in page  # nothing from outside
        for name, kind in (("chat.js", "text/javascript"), ("chat.css", "text/css")):
            async with session.get(server.chat_url + name) as response:
                assert response.status == 200 and response.content_type == kind
                assert "https://" not in await response.text()
        async with session.get(server.chat_url + "font/NotoSansKR-Regular.otf") as response:
            assert response.status == 200
            assert (await response.read())[:4] == b"OTTO"
        async with session.get(server.chat_url + "../state.py") as response:
            assert response.status == 404
        async with session.get(server.chat_url + "nothing.js") as response:
            assert response.status == 404


async def test_feed_snapshot_has_messages_menu_and_actions(server, tg, bot):
    user = await tg.create_user("민준")
    chat_id = user["id"]
    await bot.set_my_commands([telegram.BotCommand("start", "시작"),
                               telegram.BotCommand("history", "기록")])
    await tg.send_command(chat_id, "start")
    sent = await bot.send_message(
        chat_id, "<b>안녕</b> 하세요", parse_mode="HTML",
        reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("기록", callback_data="hist:1")]]),
    )
    await bot.send_chat_action(chat_id, ChatAction.TYPING)
    body = await feed(tg, chat_id)
    assert body["version"]
    assert [c["command"] for c in body["commands"]] == ["start", "history"]
    assert body["bot"]["is_bot"] and body["user"]["id"] == chat_id
    user_message, bot_message = body["messages"]
    assert (user_message["from_bot"], user_message["text"]) == (False, "/start")
    assert bot_message["message_id"] == sent.message_id
    assert bot_message["text"] == "안녕 하세요"
    assert bot_message["entities"] == [{"type": "bold", "offset": 0, "length": 2}]
    keyboard = bot_message["message"]["reply_markup"]["inline_keyboard"]
    assert keyboard[0][0]["callback_data"] == "hist:1"
    assert body["action"]["action"] == "typing" and body["action_count"] == 1
    assert abs(body["now"] - time.time()) < 5


async def test_feed_long_poll_wakes_on_edit_delete_action_and_answer(server, tg, bot):
    user = await tg.create_user("서연")
    chat_id = user["id"]
    sent = await bot.send_message(
        chat_id, "처음",
        reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("누르기", callback_data="x")]]),
    )
    version = (await feed(tg, chat_id))["version"]

    async def changed_by(change) -> dict:
        waiting = asyncio.create_task(feed(tg, chat_id, since=version, timeout=10))
        await asyncio.sleep(0.2)
        assert not waiting.done()  # nothing changed yet: the poll waits
        started = time.monotonic()
        await change()
        body = await waiting
        assert time.monotonic() - started < WAKE_UP_LIMIT
        assert body["version"] != version
        return body

    body = await changed_by(lambda: bot.edit_message_text("고침", chat_id, sent.message_id))
    (view,) = body["messages"]
    assert view["text"] == "고침" and view["edit_date"]
    version = body["version"]

    body = await changed_by(lambda: bot.send_chat_action(chat_id, ChatAction.UPLOAD_PHOTO))
    assert body["action"]["action"] == "upload_photo"
    version = body["version"]

    second = await bot.send_message(chat_id, "둘째",
                                    reply_markup=InlineKeyboardMarkup(
                                        [[InlineKeyboardButton("누르기", callback_data="x")]]))
    version = (await feed(tg, chat_id))["version"]
    pressed = await tg.press_button(chat_id, second.message_id, "x")
    version = (await feed(tg, chat_id))["version"]
    body = await changed_by(lambda: bot.answer_callback_query(pressed["callback_query_id"], "알림"))
    (answer,) = body["answers"]
    assert (answer["callback_query_id"], answer["text"]) == (pressed["callback_query_id"], "알림")
    version = body["version"]

    body = await changed_by(lambda: bot.delete_message(chat_id, sent.message_id))
    assert [m["deleted"] for m in body["messages"]] == [True, False]


async def test_feed_times_out_unchanged_and_knows_no_strangers(server, tg):
    user = await tg.create_user("지우")
    version = (await feed(tg, user["id"]))["version"]
    started = time.monotonic()
    body = await feed(tg, user["id"], since=version, timeout=0.5)
    assert body["version"] == version
    assert 0.4 < time.monotonic() - started < 3
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{server.control_url}chats/424242/feed",
                               headers={"X-Control-Secret": server.control_secret}) as response:
            assert response.status == 404


async def test_control_secret_guards_the_feed_but_not_the_page():
    async with serve(Settings(tokens=(TOKEN,), control_secret=SECRET)) as server:
        async with aiohttp.ClientSession() as session:
            async with session.get(server.chat_url) as response:
                assert response.status == 200
            async with session.post(f"{server.control_url}users", json={}) as response:
                assert response.status == 403
        async with LocalApiClient(server.url, control_secret=SECRET) as tg:
            user = await tg.create_user("하준")
            assert (await feed(tg, user["id"]))["messages"] == []
