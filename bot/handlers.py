"""Every update handler, registered in one place (:func:`register`).

Handlers stay thin: parse the update, call storage / the job worker, render a
template. Only private chats are served (results are personal). Photo work
never happens here: a photo becomes a durable job row and the worker is woken.

What a handler may rely on comes from the handler type it is registered with
(:func:`register`): :func:`_message` and :func:`_button` say so once, for the type checker.
"""
from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import operator
import re
from datetime import timedelta
from typing import Any

from telegram import CallbackQuery, Message, PhotoSize, Update, User
from telegram.constants import ChatAction
from telegram.error import BadRequest, TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from . import texts, ui
from .captions import domain_from_caption
from .chart import render_trend_png
from .collage import album_picture
from .context import BotContext
from .guide import guide_png
from .jobs.album import ALBUM_SETTLE_SECONDS
from .limits import (
    CAPTION_LIMIT,
    HISTORY_PAGE_SIZE,
    IMAGE_MIME_TYPES,
    MAX_DOWNLOAD_BYTES,
    REMIND_MAX_DAYS,
    TREND_MIN_RESULTS,
)
from .storage import Domain

__all__ = ["register"]

log = logging.getLogger(__name__)

PRIVATE = filters.ChatType.PRIVATE
#: New messages only: an edited caption is not a new photo.
NEW_MESSAGE = filters.UpdateType.MESSAGE & PRIVATE
#: An uncompressed image: JPEG, PNG or WebP by MIME type (the worker checks the bytes again).
IMAGE_DOCUMENT = functools.reduce(
    operator.or_, (filters.Document.MimeType(mime) for mime in IMAGE_MIME_TYPES)
)
#: Of an argument /remind did not understand, this many characters are quoted back.
REMIND_ECHO_CHARS = 20
#: The kinds ``unsupported`` has a sentence for, in the order they are looked for
#: (an animation also carries a ``document``, so it comes first).
UNSUPPORTED_KINDS = ("text", "sticker", "animation", "video_note", "video", "voice", "audio",
                     "document")
DOMAINS = (Domain.SCALP, Domain.FACE)


def message_kind(message: Message) -> str:
    for kind in UNSUPPORTED_KINDS:
        if getattr(message, kind, None):
            return kind
    return "other"


def _message(update: Update) -> tuple[Message, User]:
    """The message of an update a CommandHandler or MessageHandler took, and its sender.

    Both handler types only take updates with a message, and every handler here
    is limited to private chats, where a message always has a sender.
    """
    message, user = update.effective_message, update.effective_user
    assert message is not None and user is not None, "a private-chat message handler's update"
    return message, user


def _button(update: Update, context: BotContext) -> tuple[CallbackQuery, re.Match[str]]:
    """The button press a CallbackQueryHandler with a ``pattern`` took, and the pattern's match.

    That handler type only takes callback queries whose data match its pattern,
    and hands the match over as ``context.match``.
    """
    query, match = update.callback_query, context.match
    assert query is not None and match is not None, "a CallbackQueryHandler(pattern=...) update"
    return query, match


# --- commands ------------------------------------------------------------------------------------


async def start(update: Update, context: BotContext) -> None:
    """The framing guide picture, with what the bot does and what each grade means."""
    message, user = _message(update)
    await context.services.storage.upsert_user(user.id, message.chat.id, user.language_code)
    await message.reply_photo(await _guide_picture(), caption=texts.render("start", first_name=user.first_name))


async def help_command(update: Update, context: BotContext) -> None:
    message, _ = _message(update)
    await message.reply_photo(await _guide_picture(), caption=texts.render("help"))


async def _guide_picture() -> bytes:
    """The framing guide (drawn once per process, about 0.2 s: off the event loop)."""
    return await asyncio.to_thread(guide_png)


async def history(update: Update, context: BotContext) -> None:
    """Page 1 of the results; then per domain with enough graded results, the trend chart
    (with the change since the last comparable result) and the first and latest photos."""
    message, user = _message(update)
    user_id = user.id
    storage = context.services.storage
    text, markup = await _history_page(context, user_id, 1)
    await message.reply_text(text, reply_markup=markup)
    for domain in DOMAINS:
        results = await storage.results_for_trend(user_id, domain)
        if len([r for r in results if r.grade in ui.TIP_GRADES]) < TREND_MIN_RESULTS:
            continue
        await message.reply_chat_action(ChatAction.UPLOAD_PHOTO)
        png = await asyncio.to_thread(render_trend_png, domain.value, results)
        previous, current = ui.trend_pair(domain, results) or (None, results[-1])
        trend = texts.render("trend", domain=domain.value, previous=previous, current=current)
        if texts.telegram_length(trend) <= CAPTION_LIMIT:
            await message.reply_photo(png, caption=trend)
        else:
            await message.reply_photo(png)
            await message.reply_text(trend)
        await _before_after(context, message, domain, results)


async def _before_after(context: BotContext, message: Message, domain: Domain, results: Any) -> None:
    """The first and the latest annotated photo of one view side by side (tiles 1 and 2)."""
    pair = ui.before_after(domain, results)
    if pair is None:
        return
    try:
        photos = [bytes(await (await context.bot.get_file(r.annotated_file_id)).download_as_bytearray())
                  for r in pair]
    except TelegramError as exc:  # a file Telegram no longer keeps: the chart said enough
        log.info("before/after photos not available: %s", exc)
        return
    picture = await asyncio.to_thread(album_picture, photos)
    await message.reply_photo(picture, caption=texts.render(
        "before_after", domain=domain.value, first=pair[0], latest=pair[1]))


async def remind(update: Update, context: BotContext) -> None:
    """/remind: the setting and its buttons; /remind 2주, /remind 10, /remind off set it."""
    message, user = _message(update)
    typed = " ".join(context.args or ())
    choice = ui.parse_remind(typed) if typed else None
    if choice is None:  # nothing typed, or nothing understood: show where it stands
        reminder = await context.services.storage.get_reminder(user.id)
        days = reminder.interval_days if reminder is not None and reminder.enabled else None
        text = texts.render("remind_status", interval_days=days, unknown=typed[:REMIND_ECHO_CHARS],
                            next_due_at=reminder.next_due_at if reminder is not None and days else None)
        await message.reply_text(text, reply_markup=ui.remind_keyboard(days))
        return
    text, days = await _set_reminder(context, user.id, message.chat.id, choice)
    await message.reply_text(text, reply_markup=ui.remind_keyboard(days))


async def _set_reminder(context: BotContext, user_id: int, chat_id: int, choice: int | bool) -> tuple[str, int | None]:
    """Turn the reminder off (``False``) or on every ``choice`` days: the reply and the days."""
    storage = context.services.storage
    if choice is False:
        await storage.disable_reminder(user_id)
        return texts.render("remind_off"), None
    reminder = await storage.set_reminder(user_id, chat_id, interval_days=int(choice))
    return texts.render("remind_on", interval_days=reminder.interval_days,
                        next_due_at=reminder.next_due_at), reminder.interval_days


async def remind_choice(update: Update, context: BotContext) -> None:
    """A /remind button: set it and show the new setting in the same message."""
    query, match = _button(update, context)
    value = match.group(1)
    days = int(value) if value != "off" else None
    if days is not None and not 1 <= days <= REMIND_MAX_DAYS:
        await query.answer(texts.render("callback_notice", what="gone"))
        return
    await query.answer()
    chat_id = query.message.chat.id if query.message is not None else query.from_user.id
    text, current = await _set_reminder(context, query.from_user.id, chat_id, days if days is not None else False)
    await query.edit_message_text(text, reply_markup=ui.remind_keyboard(current))


async def check_mode(update: Update, context: BotContext) -> None:
    """/scalp, /face, /auto: the check every later photo gets (a caption still decides its own)."""
    message, user = _message(update)
    mode = (message.text or "/auto").split()[0].lstrip("/").split("@")[0].lower()
    await context.services.storage.set_check_mode(user.id, message.chat.id, mode)
    await message.reply_text(texts.render("check_mode", mode=mode))


async def delete(update: Update, context: BotContext) -> None:
    message, _ = _message(update)
    await message.reply_text(texts.render("delete_confirm"), reply_markup=ui.delete_keyboard())


# --- photos and everything else -------------------------------------------------------------------


async def photo(update: Update, context: BotContext) -> None:
    message, _ = _message(update)
    largest: PhotoSize = message.photo[-1]  # filters.PHOTO: there is at least one size
    await _accept(update, context, largest.file_id, largest.file_unique_id, largest.file_size)


async def image_document(update: Update, context: BotContext) -> None:
    message, _ = _message(update)
    document = message.document
    assert document is not None, "registered with a filters.Document filter"
    await _accept(update, context, document.file_id, document.file_unique_id, document.file_size)


async def _accept(update: Update, context: BotContext, file_id: str, file_unique_id: str,
                  file_size: int | None) -> None:
    """A photo becomes a durable job (deduplicated per message) before any work starts."""
    message, user = _message(update)
    if file_size is not None and file_size > MAX_DOWNLOAD_BYTES:
        await message.reply_text(texts.render("too_big"))
        return
    services = context.services
    album = message.media_group_id
    job, duplicate = await services.storage.enqueue_job(
        user_id=user.id,
        chat_id=message.chat.id,
        message_id=message.message_id,
        file_id=file_id,
        file_unique_id=file_unique_id,
        domain=await _domain_for(services.storage, user.id, message.caption),
        update_id=update.update_id,
        album_id=album,
        # an album's first photo waits for the rest (bot/jobs/album.py): one answer for all
        delay=timedelta(seconds=ALBUM_SETTLE_SECONDS if album else 0),
    )
    if duplicate:
        log.info("update %d repeats job %d; ignored", update.update_id, job.job_id)
        return
    services.worker.wake()


async def _domain_for(storage: Any, user_id: int, caption: str | None) -> Domain:
    """The photo's check: its caption's words (두피 / 피부), else the user's /scalp or /face
    mode, else AUTO (the service routes, and the bot asks where the photo could be either)."""
    domain = domain_from_caption(caption)
    if domain != Domain.AUTO:
        return domain
    user = await storage.get_user(user_id)
    return Domain(user.check_mode) if user is not None else Domain.AUTO


async def unsupported(update: Update, context: BotContext) -> None:
    message, _ = _message(update)
    await message.reply_text(texts.render("unsupported", kind=message_kind(message)))


# --- inline buttons ------------------------------------------------------------------------------


async def rerun(update: Update, context: BotContext) -> None:
    """Analyse the same photo again as the other domain."""
    query, match = _button(update, context)
    await _again(update, context, query, int(match.group(1)), match.group(2))


async def choose(update: Update, context: BotContext) -> None:
    """The answer to "어느 쪽을 점검할까요?": analyse the photo so, and take the question away
    (the answer that follows is then the only message about the photo)."""
    query, match = _button(update, context)
    if await _again(update, context, query, int(match.group(1)), match.group(2)):
        with contextlib.suppress(TelegramError):
            if isinstance(query.message, Message):
                await query.message.delete()


async def _again(update: Update, context: BotContext, query: CallbackQuery, job_id: int,
                 domain: str) -> bool:
    """Queue the photo of ``job_id`` again for ``domain``; True when it was queued."""
    storage = context.services.storage
    original = await storage.get_job(job_id)
    if original is None:
        await query.answer(texts.render("callback_notice", what="gone"))
        return False
    if original.user_id != query.from_user.id:
        await query.answer(texts.render("callback_notice", what="not_yours"))
        return False
    _, duplicate = await storage.enqueue_job(
        user_id=original.user_id,
        chat_id=original.chat_id,
        message_id=original.message_id,
        file_id=original.file_id,
        file_unique_id=original.file_unique_id,
        domain=domain,
        update_id=update.update_id,
    )
    await query.answer(texts.render(
        "callback_notice", what="rerun_duplicate" if duplicate else "rerun_queued"
    ))
    if not duplicate:
        context.services.worker.wake()
    return not duplicate


async def history_page(update: Update, context: BotContext) -> None:
    query, match = _button(update, context)
    page = int(match.group(1))
    text, markup = await _history_page(context, query.from_user.id, page)
    await query.answer()
    try:
        await query.edit_message_text(text, reply_markup=markup)
    except BadRequest as exc:  # pressed twice: "message is not modified"
        if "not modified" not in str(exc).lower():
            raise


async def reopen(update: Update, context: BotContext) -> None:
    """Re-send a stored result by its Telegram file_id (no image bytes are stored), with a
    button to delete it."""
    query, match = _button(update, context)
    result_id = int(match.group(1))
    result = await context.services.storage.get_result(query.from_user.id, result_id)
    if result is None:
        await query.answer(texts.render("callback_notice", what="gone"))
        return
    await query.answer()
    caption = ui.reopen_caption(result)
    markup = ui.reopen_keyboard(result.result_id)
    chat_id = query.message.chat.id if query.message else query.from_user.id
    if result.annotated_file_id:
        await context.bot.send_photo(chat_id, result.annotated_file_id, caption=caption,
                                     reply_markup=markup)
    else:
        await context.bot.send_message(chat_id, caption, reply_markup=markup)


async def remove_result(update: Update, context: BotContext) -> None:
    """이 기록 삭제: ask first (the buttons change in place), then delete the user's own result."""
    query, match = _button(update, context)
    result_id, choice = int(match.group(1)), match.group(2)
    storage = context.services.storage
    if choice is None:
        await query.answer()
        await query.edit_message_reply_markup(ui.remove_keyboard(result_id))
        return
    if choice == "no":
        await query.answer()
        await query.edit_message_reply_markup(ui.reopen_keyboard(result_id))
        return
    if not await storage.delete_result(query.from_user.id, result_id):
        await query.answer(texts.render("callback_notice", what="gone"))
        return
    await query.answer()
    text = texts.render("result_removed")
    message = query.message
    if isinstance(message, Message) and message.photo:
        await query.edit_message_caption(text, reply_markup=None)
    else:
        await query.edit_message_text(text, reply_markup=None)


async def more_tips(update: Update, context: BotContext) -> None:
    """관리 팁 더 보기: the long care tips of the answer's domain and grade, as a new message."""
    query, match = _button(update, context)
    domain, grade = match.groups()
    await query.answer()
    chat_id = query.message.chat.id if query.message is not None else query.from_user.id
    await context.bot.send_message(chat_id, texts.render("tips_long", domain=domain, grade=grade))


async def delete_choice(update: Update, context: BotContext) -> None:
    query, match = _button(update, context)
    choice = match.group(1)
    await query.answer()
    if choice == "yes":
        counts = await context.services.storage.delete_user_data(query.from_user.id)
        text = texts.render("delete_done", counts=counts)
    else:
        text = texts.render("delete_cancelled")
    await query.edit_message_text(text)


async def stale_button(update: Update, context: BotContext) -> None:
    """Any other button (an old keyboard, data from a previous version): say it is gone."""
    query = update.callback_query
    assert query is not None, "registered as a CallbackQueryHandler"
    await query.answer(texts.render("callback_notice", what="gone"))


# --- helpers and errors ---------------------------------------------------------------------------


async def _history_page(context: BotContext, user_id: int, page: int) -> tuple[str, Any]:
    storage = context.services.storage
    total = await storage.count_results(user_id)
    pages = ui.page_count(total)
    page = min(max(page, 1), pages)
    results = await storage.list_results(
        user_id, limit=HISTORY_PAGE_SIZE, offset=(page - 1) * HISTORY_PAGE_SIZE
    )
    text = texts.render("history", results=results, page=page, pages=pages, total=total)
    return text, ui.history_keyboard(results, page, pages)


async def on_error(update: object, context: BotContext) -> None:
    """Log the failure with the update id only (never message contents or secrets)."""
    update_id = update.update_id if isinstance(update, Update) else None
    log.error("error while handling update %s", update_id, exc_info=context.error)


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """All handlers, in matching order."""
    application.add_handlers([
        CommandHandler("start", start, filters=PRIVATE),
        CommandHandler("help", help_command, filters=PRIVATE),
        CommandHandler("history", history, filters=PRIVATE),
        CommandHandler("remind", remind, filters=PRIVATE),
        CommandHandler(["scalp", "face", "auto"], check_mode, filters=PRIVATE),
        CommandHandler("delete", delete, filters=PRIVATE),
        MessageHandler(NEW_MESSAGE & filters.COMMAND, help_command),  # unknown commands
        MessageHandler(NEW_MESSAGE & filters.PHOTO, photo),
        MessageHandler(NEW_MESSAGE & ~filters.ANIMATION & IMAGE_DOCUMENT, image_document),
        MessageHandler(NEW_MESSAGE, unsupported),
        CallbackQueryHandler(rerun, pattern=ui.RERUN_PATTERN),
        CallbackQueryHandler(choose, pattern=ui.CHOOSE_PATTERN),
        CallbackQueryHandler(history_page, pattern=ui.HISTORY_PATTERN),
        CallbackQueryHandler(reopen, pattern=ui.OPEN_PATTERN),
        CallbackQueryHandler(delete_choice, pattern=ui.DELETE_PATTERN),
        CallbackQueryHandler(remind_choice, pattern=ui.REMIND_PATTERN),
        CallbackQueryHandler(more_tips, pattern=ui.TIPS_PATTERN),
        CallbackQueryHandler(remove_result, pattern=ui.REMOVE_PATTERN),
        CallbackQueryHandler(stale_button),
    ])
    application.add_error_handler(on_error)
