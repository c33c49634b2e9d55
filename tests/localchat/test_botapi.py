"""End-to-end tests of the local Bot API server (localchat/botapi) with python-telegram-bot.

Every test starts the real aiohttp server on 127.0.0.1 (a free port) and talks
to it through PTB's own HTTP stack (``telegram.Bot`` / ``Application`` with
``base_url``/``base_file_url``) and through the control API client. Nothing
sleeps for a fixed time: waits are long polls that end as soon as the awaited
thing happens.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import struct
import time
import zlib

import aiohttp
import cv2
import numpy as np
import pytest
import telegram
from aiohttp import web
from aiohttp.test_utils import TestServer
from telegram import BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, InputMediaPhoto
from telegram.constants import ChatAction
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
)
from telegram.ext import (
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from localchat.botapi import ControlError, LocalApiClient, Settings, WaitTimeout, serve
from localchat.botapi import errors as api_errors
from localchat.botapi.protocol import MAX_CAPTION_LENGTH, MAX_DOWNLOAD_SIZE, MAX_MESSAGE_LENGTH
from localchat.botapi.webhooks import SECRET_TOKEN_HEADER

TOKEN = "123456:TEST-token_for-the-local-bot-api-000"
OTHER_TOKEN = "654321:OTHER-token_for-the-local-bot-api-1"
WAKE_UP_LIMIT = 1.0
"""Seconds within which a long poll must return after an update arrives."""


# --- fixtures and helpers -------------------------------------------------------------
@pytest.fixture(autouse=True)
def _timedelta_attributes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Opt in to PTB's timedelta attributes (RetryAfter.retry_after) without warnings."""
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


@pytest.fixture
async def server():
    settings = Settings(tokens=(TOKEN, OTHER_TOKEN), webhook_retry_delay=0.05)
    async with serve(settings) as running:
        yield running


@pytest.fixture
async def tg(server):
    async with LocalApiClient(server.url) as client:
        yield client


def make_bot(server, token: str = TOKEN) -> telegram.Bot:
    return telegram.Bot(token, base_url=server.base_url, base_file_url=server.base_file_url)


@pytest.fixture
async def bot(server):
    async with make_bot(server) as ptb_bot:
        yield ptb_bot


@pytest.fixture
async def user(tg) -> dict:
    return await tg.create_user("민준", username="minjun")


def jpeg_bytes(width: int, height: int) -> bytes:
    """A colourful test JPEG made with numpy + OpenCV."""
    y, x = np.mgrid[0:height, 0:width]
    image = np.stack([x * 255 // width, y * 255 // height, (x + y) % 256], axis=-1)
    ok, encoded = cv2.imencode(".jpg", image.astype(np.uint8))
    assert ok
    return encoded.tobytes()


def png_bytes(width: int, height: int) -> bytes:
    """A grayscale PNG built by hand (no imaging library involved)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = b"".join(b"\x00" + bytes((x + y) % 256 for x in range(width)) for y in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


async def wait_for_long_poll(server, token: str = TOKEN) -> None:
    """Return once the server holds a long-polling getUpdates for ``token``."""
    bot_account = server.world.bots[token]
    await server.world.wait_until(lambda: bot_account.active_poll is not None, 2.0)
    assert bot_account.active_poll is not None


async def raw_call(server, method: str, token: str = TOKEN, **kwargs) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{server.base_url}{token}/{method}", **kwargs) as response:
            return response.status, await response.json()


# --- identity, tokens, methods ----------------------------------------------------------
async def test_get_me_get_chat_and_case_insensitive_methods(server, bot, user):
    assert bot.bot.id == 123456
    assert bot.bot.is_bot and bot.bot.username == "local_123456_bot"
    chat = await bot.get_chat(user["id"])
    assert (chat.type, chat.first_name, chat.username) == ("private", "민준", "minjun")

    async with aiohttp.ClientSession() as session:
        async with session.get(f"{server.base_url}{TOKEN}/GETME") as response:
            assert response.status == 200
            assert (await response.json())["result"]["id"] == 123456
    status, body = await raw_call(server, "noSuchMethod")
    assert (status, body) == (404, {"ok": False, "error_code": 404, "description": "Not Found"})


async def test_unknown_token_is_invalid_token(server):
    with pytest.raises(InvalidToken):
        async with make_bot(server, "999:not-a-token"):
            pass
    status, body = await raw_call(server, "getMe", token="999:not-a-token")
    assert (status, body) == (401, {"ok": False, "error_code": 401, "description": "Unauthorized"})


async def test_json_and_form_bodies(server, user):
    keyboard = {"inline_keyboard": [[{"text": "예", "callback_data": "yes"}]]}
    status, body = await raw_call(
        server, "sendMessage", json={"chat_id": user["id"], "text": "json", "reply_markup": keyboard}
    )
    assert status == 200 and body["result"]["reply_markup"] == keyboard
    status, body = await raw_call(
        server,
        "sendMessage",
        data={"chat_id": str(user["id"]), "text": "form", "reply_markup": '{"remove_keyboard": true}'},
    )
    assert status == 200 and body["result"]["text"] == "form"
    assert "reply_markup" not in body["result"]  # only inline keyboards stay on the message
    status, body = await raw_call(server, "sendMessage", data={"chat_id": "42", "text": "x"})
    assert (status, body["description"]) == (400, "Bad Request: chat not found")
    status, body = await raw_call(
        server, "sendMessage", data={"chat_id": str(user["id"]), "text": "x", "reply_markup": "{"}
    )
    assert (status, body["description"]) == (400, api_errors.BAD_REPLY_MARKUP)


# --- receiving updates -------------------------------------------------------------------
async def test_get_updates_returns_injected_updates_and_confirms_offsets(bot, tg, user):
    photo = jpeg_bytes(640, 480)
    await tg.send_text(user["id"], "안녕하세요")
    await tg.send_command(user["id"], "start", "ref_1")
    await tg.send_photo(user["id"], photo, caption="두피 사진")
    await tg.send_document(user["id"], b"%PDF-1.4 test", "report.pdf", "application/pdf")

    updates = await bot.get_updates()
    assert [u.message.message_id for u in updates] == [1, 2, 3, 4]
    ids = [u.update_id for u in updates]
    assert ids == sorted(ids) and len(set(ids)) == 4
    text, command, photo_update, document = (u.message for u in updates)
    assert text.text == "안녕하세요" and text.from_user.language_code == "ko"
    assert command.text == "/start ref_1"
    assert command.entities[0].type == "bot_command" and command.entities[0].length == 6
    assert [(p.width, p.height) for p in photo_update.photo] == [(90, 68), (320, 240), (640, 480)]
    assert photo_update.photo[-1].file_size == len(photo)
    assert photo_update.caption == "두피 사진"
    assert (document.document.file_name, document.document.mime_type) == (
        "report.pdf",
        "application/pdf",
    )

    # The bot downloads the user's photo exactly as uploaded.
    photo_file = await bot.get_file(photo_update.photo[-1].file_id)
    assert bytes(await photo_file.download_as_bytearray()) == photo

    # Not confirmed yet: the same updates come again; an offset confirms them.
    assert [u.update_id for u in await bot.get_updates()] == ids
    assert [u.update_id for u in await bot.get_updates(offset=ids[2])] == ids[2:]
    assert await bot.get_updates(offset=ids[-1] + 1) == ()
    assert await tg.pending_updates() == []


async def test_sticker_video_and_voice_updates_parse_in_ptb(bot, tg, user):
    await tg.send_sticker(user["id"], emoji="👍")
    await tg.send_video(user["id"], b"\x00\x00\x00\x18ftypmp42", duration=3, file_name="clip.mp4")
    await tg.send_voice(user["id"], b"OggS-voice", duration=2, mime_type="audio/ogg")
    sticker, video, voice = (u.message for u in await bot.get_updates())
    assert sticker.sticker.emoji == "👍"
    assert (sticker.sticker.width, sticker.sticker.type) == (512, "regular")
    assert (video.video.duration, video.video.file_name) == (dtm.timedelta(seconds=3), "clip.mp4")
    assert voice.voice.mime_type == "audio/ogg"
    voice_file = await bot.get_file(voice.voice.file_id)
    assert bytes(await voice_file.download_as_bytearray()) == b"OggS-voice"
    empty_sticker = await bot.get_file(sticker.sticker.file_id)
    assert bytes(await empty_sticker.download_as_bytearray()) == b""


async def test_long_polling_wakes_up_as_soon_as_an_update_arrives(server, bot, tg, user):
    poll = asyncio.create_task(bot.get_updates(timeout=10))
    await wait_for_long_poll(server)
    started = time.monotonic()
    await tg.send_text(user["id"], "지금 보내요")
    updates = await asyncio.wait_for(poll, WAKE_UP_LIMIT)
    assert time.monotonic() - started < WAKE_UP_LIMIT
    assert updates[0].message.text == "지금 보내요"


async def test_long_polling_times_out_empty(bot):
    started = time.monotonic()
    assert await bot.get_updates(timeout=dtm.timedelta(milliseconds=300)) == ()
    assert time.monotonic() - started >= 0.25


async def test_allowed_updates_filters_new_updates(bot, tg, user):
    await bot.get_updates(allowed_updates=["callback_query"])
    dropped = await tg.send_text(user["id"], "무시됨")
    assert dropped["update"] is None
    await bot.get_updates(allowed_updates=[])  # back to the default set
    kept = await tg.send_text(user["id"], "받음")
    assert [u.update_id for u in await bot.get_updates()] == [kept["update_id"]]


async def test_duplicate_delivery_and_edited_message(bot, tg, user):
    sent = await tg.send_text(user["id"], "한 번")
    first = await bot.get_updates()
    await bot.get_updates(offset=first[-1].update_id + 1)
    duplicate = await tg.duplicate_update(sent["update_id"])
    assert duplicate["update_id"] > sent["update_id"]
    (again,) = await bot.get_updates()
    assert again.message.message_id == first[0].message.message_id
    assert again.update_id == duplicate["update_id"]

    await tg.edit_message(user["id"], sent["message_id"], "두 번")
    (edited,) = await bot.get_updates(offset=again.update_id + 1)
    assert edited.edited_message.text == "두 번"
    assert edited.edited_message.message_id == sent["message_id"]
    assert edited.edited_message.edit_date is not None


# --- sending -------------------------------------------------------------------------------
async def test_send_message_with_html_and_keyboard_is_readable(bot, tg, user):
    await tg.send_command(user["id"], "start")
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("두피 검사", callback_data="scalp")]])
    message = await bot.send_message(
        user["id"], "<b>안녕하세요</b> 😀 <i>검사</i>", parse_mode="HTML", reply_markup=keyboard
    )
    assert message.message_id == 2  # ids are per chat, shared with the user's messages
    assert message.text == "안녕하세요 😀 검사"
    assert [(e.type, e.offset, e.length) for e in message.entities] == [
        ("bold", 0, 5),
        ("italic", 9, 2),  # the emoji counts as two UTF-16 units
    ]
    assert message.reply_markup == keyboard

    (seen,) = await tg.messages(user["id"])
    assert seen["kind"] == "text" and seen["text"] == message.text
    assert seen["reply_markup"] == keyboard.to_dict()
    everything = await tg.messages(user["id"], sender="all")
    assert [m["from_bot"] for m in everything] == [False, True]


async def test_text_and_caption_limits(bot, user):
    await bot.send_message(user["id"], "가" * MAX_MESSAGE_LENGTH)
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(user["id"], "가" * (MAX_MESSAGE_LENGTH + 1))
    with pytest.raises(BadRequest, match="Message caption is too long"):
        await bot.send_photo(user["id"], jpeg_bytes(64, 64), caption="가" * (MAX_CAPTION_LENGTH + 1))
    with pytest.raises(BadRequest, match="Message text is empty"):
        await bot.send_message(user["id"], "<b></b>", parse_mode="HTML")


async def test_html_errors_are_reported_like_telegram(bot, user):
    with pytest.raises(BadRequest) as unsupported:
        await bot.send_message(user["id"], "1 < 2", parse_mode="HTML")
    # PTB drops "Bad Request: " and str.capitalize()s the rest of the description.
    assert str(unsupported.value) == 'Can\'t parse entities: unsupported start tag "" at byte offset 2'
    with pytest.raises(BadRequest, match="find end tag"):
        await bot.send_message(user["id"], "<b>굵게", parse_mode="HTML")
    escaped = await bot.send_message(user["id"], "1 &lt; 2 &amp; <code>x</code>", parse_mode="HTML")
    assert escaped.text == "1 < 2 & x" and escaped.entities[0].type == "code"


async def test_send_photo_upload_download_and_reuse(server, bot, tg, user):
    photo = jpeg_bytes(1000, 800)
    message = await bot.send_photo(user["id"], photo, caption="결과")
    sizes = [(p.width, p.height) for p in message.photo]
    assert sizes == [(90, 72), (320, 256), (800, 640), (1000, 800)]
    largest = message.photo[-1]
    assert largest.file_size == len(photo)

    downloaded = await (await bot.get_file(largest.file_id)).download_as_bytearray()
    assert bytes(downloaded) == photo
    thumb = await (await bot.get_file(message.photo[1].file_id)).download_as_bytearray()
    decoded = cv2.imdecode(np.frombuffer(bytes(thumb), np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape[:2] == (256, 320)

    (seen,) = await tg.messages(user["id"])
    assert (seen["kind"], seen["caption"], seen["file_id"]) == ("photo", "결과", largest.file_id)
    assert await tg.download(seen["file_url"]) == photo

    again = await bot.send_photo(user["id"], largest.file_id)
    assert [p.file_id for p in again.photo] == [p.file_id for p in message.photo]

    png = png_bytes(300, 200)
    from_png = await bot.send_photo(user["id"], png)
    assert [(p.width, p.height) for p in from_png.photo] == [(90, 60), (300, 200)]
    with pytest.raises(BadRequest, match="Image_process_failed"):
        await bot.send_photo(user["id"], b"not an image")


async def test_send_document_chat_action_and_media_group(bot, tg, user):
    assert await bot.send_chat_action(user["id"], ChatAction.TYPING)
    assert await bot.send_chat_action(user["id"], ChatAction.UPLOAD_PHOTO)
    document = await bot.send_document(user["id"], "결과 요약".encode(), filename="결과.txt")
    assert document.document.file_name == "결과.txt"
    assert document.document.mime_type == "text/plain"
    with pytest.raises(BadRequest, match="Can't use file of type document as photo"):
        await bot.send_photo(user["id"], document.document.file_id)

    album = await bot.send_media_group(
        user["id"], [InputMediaPhoto(jpeg_bytes(100, 100)), InputMediaPhoto(png_bytes(50, 40))]
    )
    assert len(album) == 2 and album[0].media_group_id == album[1].media_group_id
    assert album[1].photo[-1].width == 50

    actions = await tg.actions(user["id"])
    assert [a["action"] for a in actions] == ["typing", "upload_photo"]
    seen = await tg.messages(user["id"])
    assert [m["kind"] for m in seen] == ["document", "photo", "photo"]
    assert await tg.download(seen[0]["file_id"]) == "결과 요약".encode()


async def test_edit_and_delete_messages(bot, tg, user):
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("다시", callback_data="again")]])
    sent = await bot.send_message(user["id"], "분석 중...", reply_markup=keyboard)
    edited = await bot.edit_message_text("분석 완료", user["id"], sent.message_id)
    assert edited.text == "분석 완료" and edited.edit_date is not None
    assert edited.reply_markup is None  # omitting reply_markup removes the keyboard
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_text("분석 완료", user["id"], sent.message_id)
    photo = await bot.send_photo(user["id"], jpeg_bytes(64, 64), caption="전")
    recaptioned = await bot.edit_message_caption(user["id"], photo.message_id, caption="후")
    assert recaptioned.caption == "후"
    marked = await bot.edit_message_reply_markup(user["id"], photo.message_id, reply_markup=keyboard)
    assert marked.reply_markup == keyboard

    assert await bot.delete_message(user["id"], sent.message_id)
    with pytest.raises(BadRequest, match="Message to delete not found"):
        await bot.delete_message(user["id"], sent.message_id)
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("x", user["id"], 999)
    seen = await tg.messages(user["id"])
    assert [m["deleted"] for m in seen] == [True, False]


async def test_commands(bot, tg):
    commands = [BotCommand("start", "시작하기"), BotCommand("scalp", "두피 검사")]
    assert await bot.set_my_commands(commands)
    assert await bot.set_my_commands([BotCommand("start", "Start")], language_code="en")
    assert list(await bot.get_my_commands()) == commands
    assert [c.command for c in await bot.get_my_commands(language_code="en")] == ["start"]
    stored = await tg.commands()
    assert stored[0]["scope"] == {"type": "default"}
    assert stored[0]["commands"][1] == {"command": "scalp", "description": "두피 검사"}
    with pytest.raises(BadRequest):
        await bot.set_my_commands([BotCommand("Start!", "bad")])
    assert await bot.delete_my_commands()
    assert await bot.get_my_commands() == ()


# --- errors and fault injection ---------------------------------------------------------------
async def test_injected_faults_map_to_ptb_exceptions(bot, tg, user):
    await tg.inject_fault("sendMessage", 429, retry_after=3)
    with pytest.raises(RetryAfter) as flood:
        await bot.send_message(user["id"], "1")
    assert flood.value.retry_after == dtm.timedelta(seconds=3)
    await bot.send_message(user["id"], "2")  # the fault was used up

    await tg.inject_fault("sendPhoto", 403)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_photo(user["id"], jpeg_bytes(32, 32))
    await tg.inject_fault("*", 502, count=2)
    for _ in range(2):
        with pytest.raises(NetworkError):
            await bot.send_chat_action(user["id"], ChatAction.TYPING)
    await tg.inject_fault("sendMessage", 400, migrate_to_chat_id=-1001234)
    with pytest.raises(ChatMigrated) as migrated:
        await bot.send_message(user["id"], "3")
    assert migrated.value.new_chat_id == -1001234
    assert await tg.faults() == []

    statuses = [call["status"] for call in await tg.calls("sendMessage")]
    assert statuses == [429, 200, 400]


async def test_blocked_user_and_unknown_chat(bot, tg, user):
    await tg.block(user["id"])
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(user["id"], "안녕")
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message(424242, "안녕")


async def test_concurrent_get_updates_conflict(server, bot, tg, user):
    async with make_bot(server) as second_instance:
        first = asyncio.create_task(bot.get_updates(timeout=5))
        await wait_for_long_poll(server)
        second = asyncio.create_task(second_instance.get_updates(timeout=5))
        with pytest.raises(Conflict, match="terminated by other getUpdates request"):
            await asyncio.wait_for(first, WAKE_UP_LIMIT)
        await tg.send_text(user["id"], "누가 받나요")
        updates = await asyncio.wait_for(second, WAKE_UP_LIMIT)
        assert updates[0].message.text == "누가 받나요"


async def test_file_too_big(bot, tg, user):
    await tg.send_photo(user["id"], None, oversize=True)
    await tg.send_document(user["id"], None, "scan.tiff", "image/tiff", oversize=True)
    photo_update, document_update = await bot.get_updates()
    largest = photo_update.message.photo[-1]
    assert largest.file_size > MAX_DOWNLOAD_SIZE
    with pytest.raises(BadRequest, match="File is too big"):
        await bot.get_file(largest.file_id)
    with pytest.raises(BadRequest, match="File is too big"):
        await bot.get_file(document_update.message.document.file_id)
    small = await bot.get_file(photo_update.message.photo[0].file_id)
    assert small.file_path.startswith("http://127.0.0.1")
    with pytest.raises(BadRequest, match="Invalid file_id"):
        await bot.get_file("no-such-file")


# --- callback queries ----------------------------------------------------------------------
async def test_callback_query_press_and_answer(bot, tg, user):
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("두피", callback_data="scalp"),
                InlineKeyboardButton("얼굴", callback_data="face"),
            ]
        ]
    )
    sent = await bot.send_message(user["id"], "무엇을 검사할까요?", reply_markup=keyboard)
    pressed = await tg.press_button(user["id"], sent.message_id, "face")
    (update,) = await bot.get_updates()
    query = update.callback_query
    assert query.id == pressed["callback_query_id"]
    assert (query.data, query.from_user.id) == ("face", user["id"])
    assert query.message.message_id == sent.message_id
    assert query.message.reply_markup == keyboard

    assert await bot.answer_callback_query(query.id, text="얼굴을 선택했어요")
    (answer,) = await tg.callback_answers(count=1)
    assert answer["text"] == "얼굴을 선택했어요"
    assert (answer["data"], answer["show_alert"]) == ("face", False)
    with pytest.raises(BadRequest, match="Query is too old"):
        await bot.answer_callback_query(query.id)
    with pytest.raises(ControlError) as missing:
        await tg.press_button(user["id"], sent.message_id, "no-such-button")
    assert missing.value.status == 400


# --- webhooks ------------------------------------------------------------------------------
async def test_webhook_delivery_with_secret_token(bot, tg, user):
    received: asyncio.Queue = asyncio.Queue()
    answers = [500]  # the first delivery fails, so it is retried

    async def webhook(request: web.Request) -> web.Response:
        await received.put((request.headers.get(SECRET_TOKEN_HEADER), await request.json()))
        return web.Response(status=answers.pop(0) if answers else 200)

    receiver_app = web.Application()
    receiver_app.router.add_post("/hook", webhook)
    async with TestServer(receiver_app, host="127.0.0.1") as receiver:
        url = str(receiver.make_url("/hook"))
        with pytest.raises(BadRequest, match="Bad webhook"):
            await bot.set_webhook("https://example.com/hook")
        assert await bot.set_webhook(url, secret_token="s3cret_token-1")
        with pytest.raises(Conflict, match="can't use getUpdates method while webhook is active"):
            await bot.get_updates()

        sent = await tg.send_text(user["id"], "웹훅으로")
        first_secret, first_body = await asyncio.wait_for(received.get(), WAKE_UP_LIMIT)
        second_secret, second_body = await asyncio.wait_for(received.get(), WAKE_UP_LIMIT)
        assert first_secret == second_secret == "s3cret_token-1"
        assert first_body == second_body == sent["update"]
        assert telegram.Update.de_json(second_body, bot).message.text == "웹훅으로"

        info = await bot.get_webhook_info()
        assert info.url == url and info.pending_update_count == 0
        assert info.last_error_message == "Wrong response from the webhook: 500 Internal Server Error"
        assert await bot.delete_webhook()
    assert (await bot.get_webhook_info()).url == ""
    assert await bot.get_updates() == ()


# --- control API ----------------------------------------------------------------------------
async def test_control_waits_and_secret(bot, tg, user):
    with pytest.raises(WaitTimeout) as timed_out:
        await tg.wait_for_messages(user["id"], 1, timeout=0.1)
    assert timed_out.value.items == []
    waiting = asyncio.create_task(tg.wait_for_messages(user["id"], 2))
    await bot.send_message(user["id"], "하나")
    await bot.send_message(user["id"], "둘")
    assert [m["text"] for m in await waiting] == ["하나", "둘"]

    await tg.reset()
    with pytest.raises(ControlError) as gone:
        await tg.messages(user["id"])
    assert gone.value.status == 404
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message(user["id"], "셋")

    async with serve(Settings(tokens=(TOKEN,), control_secret="hush")) as guarded:
        async with LocalApiClient(guarded.url) as intruder:
            with pytest.raises(ControlError) as refused:
                await intruder.create_user()
            assert refused.value.status == 403
        async with LocalApiClient(guarded.url, control_secret="hush") as insider:
            assert (await insider.create_user("지우"))["first_name"] == "지우"


# --- a real PTB Application, end to end ---------------------------------------------------------
async def test_application_end_to_end(server, tg, user):
    photo = jpeg_bytes(800, 600)
    errors_seen: list[BaseException] = []

    async def start(update: telegram.Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        button = InlineKeyboardButton("두피 검사", callback_data="scalp")
        await update.message.reply_text(
            "안녕하세요! 사진을 보내 주세요.", reply_markup=InlineKeyboardMarkup([[button]])
        )

    async def echo(update: telegram.Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.message.reply_text(update.message.text)

    async def on_photo(update: telegram.Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.message.reply_chat_action(ChatAction.UPLOAD_PHOTO)
        file = await update.message.photo[-1].get_file()
        data = await file.download_as_bytearray()
        await update.message.reply_photo(bytes(data), caption="받은 사진")

    async def on_button(update: telegram.Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.callback_query.answer("선택됨")
        await update.callback_query.edit_message_text("두피 검사를 시작합니다")

    async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        errors_seen.append(context.error)

    application = (
        ApplicationBuilder()
        .token(TOKEN)
        .base_url(server.base_url)
        .base_file_url(server.base_file_url)
        .build()
    )
    application.add_handler(CommandHandler("start", start))
    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    application.add_handler(MessageHandler(filters.PHOTO, on_photo))
    application.add_handler(CallbackQueryHandler(on_button))
    application.add_error_handler(on_error)

    await application.initialize()
    await application.start()
    await application.updater.start_polling()
    try:
        await tg.send_command(user["id"], "start")
        (greeting,) = await tg.wait_for_messages(user["id"], 1)
        assert greeting["text"].startswith("안녕하세요")

        await tg.send_text(user["id"], "메아리")
        echo_reply = (await tg.wait_for_messages(user["id"], 1, after=greeting["message_id"]))[0]
        assert echo_reply["text"] == "메아리"

        await tg.send_photo(user["id"], photo)
        photo_reply = (await tg.wait_for_messages(user["id"], 1, after=echo_reply["message_id"]))[0]
        assert photo_reply["kind"] == "photo" and photo_reply["caption"] == "받은 사진"
        assert await tg.download(photo_reply["file_id"]) == photo
        assert [a["action"] for a in await tg.actions(user["id"])] == ["upload_photo"]

        await tg.press_button(user["id"], greeting["message_id"], "scalp")
        (answer,) = await tg.callback_answers(count=1)
        assert answer["text"] == "선택됨"
        await tg.calls("editMessageText", count=1)
        messages = await tg.messages(user["id"])
        (edited,) = [m for m in messages if m["message_id"] == greeting["message_id"]]
        assert edited["text"] == "두피 검사를 시작합니다"
    finally:
        await application.updater.stop()
        await application.stop()
        await application.shutdown()
    assert errors_seen == []
    # The updater's final getUpdates confirmed everything it had fetched.
    assert await tg.pending_updates() == []
