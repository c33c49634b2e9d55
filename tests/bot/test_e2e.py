"""The bot end to end: the real Application through PTB's HTTP stack against the local
Bot API server (localchat.botapi) on loopback, the inference service in this process, and a
real SQLite file in tmp_path.

The service is the REAL one with the trained weights in weights/ when they are there
(``tests.fakes.stack.weights_ready``); on a checkout without weights it is the same
service app with the stand-in scalp chain of ``tests/fakes/inference.py``, and the module
says so in its header line. Faults (service down, 5xx, slow) come from a proxy in front
of the service, not from a fake.

Nothing sleeps for a fixed time to wait for the bot: waits poll the local server's
control API until the expected messages are there (with generous timeouts, as the
models run on a busy CPU).
"""
from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
import pytest_asyncio

from bot import limits, texts
from bot.settings import REDACTED, install_log_redaction, uninstall_log_redaction
from bot.storage import Storage, utcnow
from inference.datasets import valid_photos
from localchat.botapi import LocalApiClient, WaitTimeout
from tests.fakes.stack import (
    TOKEN,
    ServiceProxy,
    bot_environment,
    bot_settings,
    inference_service,
    local_telegram,
    running_bot,
)
from tests.paths import SHARED

DATASETS = SHARED / "datasets"  # the valid photos the end-to-end tests send

pytestmark = pytest.mark.asyncio(loop_scope="module")

SERVICE_KEY = "svc-key-e2e-5b1f0c9a"
ANSWER_TIMEOUT = 90.0
"""Seconds to wait for one answer (the real models on a shared CPU)."""
FIFTY = 50
FIFTY_TIMEOUT = 240.0
SCALP_TITLE = "두피 점검 결과"
FACE_TITLE = "피부(얼굴) 점검 결과"
TABLES = ("users", "jobs", "results", "reminders")


# --- fixtures --------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _ptb_timedelta(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def service():
    async with inference_service(api_key=SERVICE_KEY) as running:
        kind = "REAL service, trained weights" if running.real else "STAND-IN scalp model (no weights)"
        print(f"\n[test_bot_e2e] inference: {kind} at {running.url}")
        yield running


@pytest_asyncio.fixture(loop_scope="module")
async def proxy(service):
    async with ServiceProxy(service.url) as toggle:
        yield toggle


@pytest_asyncio.fixture(loop_scope="module")
async def telegram():
    async with local_telegram() as server:
        yield server


@pytest_asyncio.fixture(loop_scope="module")
async def tg(telegram):
    async with LocalApiClient(telegram.url) as client:
        yield client


@pytest.fixture
def settings(telegram, proxy, tmp_path):
    return bot_settings(telegram, proxy.url, tmp_path / "bot.sqlite3",
                        inference_api_key=SERVICE_KEY)


@pytest_asyncio.fixture(loop_scope="module")
async def bot(settings):
    async with running_bot(settings) as application:
        yield application


@pytest_asyncio.fixture(loop_scope="module")
async def user(tg):
    return await tg.create_user("민준", username="minjun")


# --- helpers -----------------------------------------------------------------------------------


def scalp_photo(index: int = 0) -> bytes:
    """A real crown photo (Top-Down view) from the scalp_uze validation split."""
    crowns = [p for p in valid_photos(DATASETS, "scalp_uze") if "Top-Down" in p.name]
    return crowns[index % len(crowns)].read_bytes()


def face_photo(index: int = 0) -> bytes:
    return valid_photos(DATASETS, "acne04")[index].read_bytes()


def dark_photo() -> bytes:
    ok, data = cv2.imencode(".jpg", np.full((480, 640, 3), 8, np.uint8))
    assert ok
    return data.tobytes()


def no_one_photo() -> bytes:
    """A code-made picture of no scalp and no face (a landscape, a document ...) that the quality
    gate lets through: the first of the router training's generator at a seed it never used."""
    from inference.pipeline.common.quality import check
    from inference.train.router.neither import neither_set

    for item in neither_set(40, seed=20261207):
        rgb = cv2.resize(item.rgb, (640, 640), interpolation=cv2.INTER_CUBIC)
        if check(rgb).ok:
            ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
            assert ok
            return data.tobytes()
    raise AssertionError("no code-made picture passed the quality gate")


def png_of(jpeg: bytes) -> bytes:
    ok, data = cv2.imencode(".png", cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR))
    assert ok
    return data.tobytes()


def visible(messages: list[dict]) -> list[dict]:
    return [m for m in messages if not m["deleted"]]


def photos(messages: list[dict]) -> list[dict]:
    return [m for m in visible(messages) if m["kind"] == "photo"]


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def buttons(message: dict) -> list[tuple[str, str]]:
    markup = message.get("reply_markup") or {}
    return [(b["text"], b["callback_data"]) for row in markup.get("inline_keyboard", []) for b in row]


async def wait_for(
    tg: LocalApiClient, chat_id: int, predicate: Callable[[list[dict]], bool],
    timeout: float = ANSWER_TIMEOUT, after: int = 0,
) -> list[dict]:
    """The bot's messages in the chat (id > after) once ``predicate`` holds on them."""
    deadline = time.monotonic() + timeout
    while True:
        messages = await tg.messages(chat_id, after=after)
        if predicate(messages):
            return messages
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"timed out; the bot sent: {[_brief(m) for m in messages]}")
        try:
            await tg.wait_for_messages(chat_id, len(messages) + 1, after=after,
                                       timeout=min(remaining, 0.5))
        except WaitTimeout:
            pass


def _brief(message: dict) -> str:
    body = message.get("caption") or message.get("text") or ""
    return f"{message['kind']}{' (deleted)' if message['deleted'] else ''}: {body[:60]!r}"


async def answer_to(tg: LocalApiClient, chat_id: int, user_message_id: int,
                    timeout: float = ANSWER_TIMEOUT) -> dict:
    """The bot's visible reply to the user's message ``user_message_id``."""
    def replied(messages: list[dict]) -> bool:
        return any(m.get("reply_to_message_id") == user_message_id for m in visible(messages))

    messages = await wait_for(tg, chat_id, replied, timeout)
    (reply,) = [m for m in visible(messages) if m.get("reply_to_message_id") == user_message_id]
    return reply


def _body(message: dict) -> str:
    return message.get("text") or message.get("caption") or ""


async def reply_after(tg: LocalApiClient, chat_id: int, message_id: int, starts: str = "",
                      timeout: float = 10.0) -> dict:
    """The bot's first visible message after the user's message ``message_id`` that starts
    with ``starts`` (other messages, e.g. the tips following an earlier answer, may come
    in between)."""
    def match(messages: list[dict]) -> list[dict]:
        return [m for m in visible(messages) if _body(m).startswith(starts)]

    messages = await wait_for(tg, chat_id, lambda ms: bool(match(ms)), timeout, after=message_id)
    return match(messages)[0]


def rows(db_path: Path, table: str, user_id: int) -> list[sqlite3.Row]:
    with sqlite3.connect(db_path) as conn:
        conn.row_factory = sqlite3.Row
        return conn.execute(f"SELECT * FROM {table} WHERE user_id = ?", (user_id,)).fetchall()


def job_rows(db_path: Path, user_id: int) -> list[sqlite3.Row]:
    return rows(db_path, "jobs", user_id)


async def settled_jobs(db_path: Path, user_id: int, timeout: float = 10.0) -> list[sqlite3.Row]:
    """The user's jobs once none is pending or running (the bot finishes a job after replying)."""
    deadline = time.monotonic() + timeout
    while True:
        jobs = job_rows(db_path, user_id)
        if all(j["status"] not in ("pending", "running") for j in jobs):
            return jobs
        if time.monotonic() > deadline:
            raise AssertionError(f"jobs not settled: {[dict(j) for j in jobs]}")
        await asyncio.sleep(0.05)


# --- commands ----------------------------------------------------------------------------------------


async def test_start_help_menu_and_unknown_command(bot, tg, user):
    sent = await tg.send_command(user["id"], "start")
    start = await reply_after(tg, user["id"], sent["message_id"], "민준님")
    # the framing guide picture, its caption what the bot does and what each grade means
    assert start["kind"] == "photo" and start["caption"].startswith("민준님, 안녕하세요!")
    assert "정수리" in start["caption"] and "의학적 진단이 아닌" in start["caption"]
    assert "판단 어려움" in start["caption"] and "트러블 많음" not in start["caption"]
    picture = await tg.download(start["file_id"])
    assert picture.startswith(b"\x89PNG")
    for command in ("help", "nosuchcommand"):
        sent = await tg.send_command(user["id"], command)
        reply = await reply_after(tg, user["id"], sent["message_id"], "사용법")
        assert reply["kind"] == "photo" and "가르마" in reply["caption"]
    (menu,) = await tg.commands()
    assert [c["command"] for c in menu["commands"]] == ["start", "help", "history", "remind",
                                                         "scalp", "face", "auto", "delete"]
    assert all(c["description"] for c in menu["commands"])


# --- photos ------------------------------------------------------------------------------------


async def test_scalp_photo_answered_with_one_annotated_photo(bot, tg, user, settings, service):
    sent = await tg.send_photo(user["id"], scalp_photo(0))
    reply = await answer_to(tg, user["id"], sent["message_id"])
    assert reply["kind"] == "photo", _brief(reply)
    caption = reply["caption"]
    assert caption.startswith(SCALP_TITLE) and utf16(caption) <= limits.ANSWER_TEXT_LIMIT
    assert any(name in caption for name in texts.GRADE_NAMES.values())
    assert "두피 노출 비율" in caption and "의학적 진단이 아닙니다" in caption
    assert "피부과 전문의" in caption
    labels = buttons(reply)
    assert [label for label, _ in labels] == ["관리 팁 더 보기", "피부 점검으로 다시"]
    annotated = await tg.download(reply["file_id"])
    assert annotated[:3] == b"\xff\xd8\xff" and annotated != scalp_photo(0)

    # a "분석 중" notice, if the analysis took long enough for one, goes once the answer is out:
    # one message on screen after the photo, the answer
    messages = await wait_for(tg, user["id"], lambda ms: not [
        m for m in visible(ms) if "분석 중" in (m.get("text") or "")], timeout=10)
    assert len(photos(messages)) == 1
    from_bot = [m for m in visible(messages) if m["message_id"] > sent["message_id"]]
    assert [m["message_id"] for m in from_bot] == [reply["message_id"]]

    # the long tips only when asked for
    await tg.press_button(user["id"], reply["message_id"], labels[0][1])
    tips = await reply_after(tg, user["id"], reply["message_id"], "두피 관리 팁", timeout=10)
    assert "이럴 때는 피부과 전문의와 상담해 주세요" in tips["text"]
    assert "upload_photo" in [a["action"] for a in await tg.actions(user["id"])]

    [job] = await settled_jobs(settings.db_path, user["id"])
    assert job["status"] == "done" and job["answered_at"] is not None
    [result] = rows(settings.db_path, "results", user["id"])
    assert result["annotated_file_id"] == reply["file_id"]  # the file_id, never the bytes
    assert "exposed_scalp_ratio" in result["measurements"]


async def test_face_photo_is_routed_to_face_and_the_domain_override_button(bot, tg, user, settings, proxy):
    assert "face" in proxy.upstream_models, "the service should load the face models from weights/"
    sent = await tg.send_photo(user["id"], face_photo(0))
    first = await answer_to(tg, user["id"], sent["message_id"])
    # the router sent the close-up to the face pipeline without being told
    assert first["kind"] == "photo" and (first.get("caption") or "").startswith(FACE_TITLE), _brief(first)
    assert "찾은 트러블" in first["caption"] and utf16(first["caption"]) <= limits.ANSWER_TEXT_LIMIT
    assert proxy.records[-1].domain == "auto"
    scalp_button = [data for label, data in buttons(first) if label == "두피 점검으로 다시"]
    assert scalp_button and [label for label, _ in buttons(first)][-1:] == ["두피 점검으로 다시"], _brief(first)

    await tg.press_button(user["id"], first["message_id"], scalp_button[0])
    answers = await tg.callback_answers(count=1)
    assert answers[0]["text"] == "다시 분석할게요. 잠시만 기다려 주세요."

    def second(ms):
        return [m for m in visible(ms) if m.get("reply_to_message_id") == sent["message_id"]
                and m["message_id"] != first["message_id"] and buttons(m)]

    answer = second(await wait_for(tg, user["id"], lambda ms: bool(second(ms))))[-1]
    assert proxy.records[-1].domain == "scalp"
    # the scalp models on a cheek: a scalp result or the retake advice, either way with the way back
    assert (answer.get("caption") or "").startswith(SCALP_TITLE) or "사진" in (answer.get("text") or ""), _brief(answer)
    assert "피부 점검으로 다시" in [label for label, _ in buttons(answer)]

    # pressing the same button again is not a second job
    await tg.press_button(user["id"], first["message_id"], scalp_button[0])
    answers = await tg.callback_answers(count=2)
    assert answers[1]["text"] == "이미 같은 방법으로 분석을 요청하셨어요."
    assert len(job_rows(settings.db_path, user["id"])) == 2


async def test_an_album_of_three_photos_gets_one_answer(bot, tg, user, settings):
    """A media group of three (two scalp views and a face close-up): one picture, one caption of
    at most ANSWER_TEXT_LIMIT characters, each photo's grade and one overall grade per check."""
    album = [scalp_photo(0), scalp_photo(1), face_photo(0)]
    sent = [await tg.send_photo(user["id"], data, media_group_id="album-e2e") for data in album]
    reply = await answer_to(tg, user["id"], sent[0]["message_id"])
    await settled_jobs(settings.db_path, user["id"])
    messages = await wait_for(tg, user["id"], lambda ms: not [
        m for m in visible(ms) if "분석 중" in (m.get("text") or "")], timeout=10)
    from_bot = [m for m in visible(messages) if m["message_id"] > sent[0]["message_id"]]
    assert [m["message_id"] for m in from_bot] == [reply["message_id"]], _brief(reply)
    caption = reply["caption"]
    assert reply["kind"] == "photo" and caption.startswith("사진 3장 점검 결과"), _brief(reply)
    assert utf16(caption) <= limits.ANSWER_TEXT_LIMIT
    lines = caption.splitlines()
    assert [line[:2] for line in lines[1:4]] == ["1.", "2.", "3."]
    assert lines[1].startswith("1. 두피") and lines[3].startswith("3. 피부(얼굴)")
    assert "두피 종합:" in caption and "피부(얼굴) 종합:" in caption
    assert "의학적 진단이 아닙니다" in caption
    picture = await tg.download(reply["file_id"])
    assert picture[:3] == b"\xff\xd8\xff"
    results = rows(settings.db_path, "results", user["id"])
    assert sorted(r["domain"] for r in results) == ["face", "scalp", "scalp"]
    assert {r["annotated_file_id"] for r in results} == {reply["file_id"]}


async def test_image_sent_as_a_document_png_and_a_fake_image(bot, tg, user, settings):
    sent = await tg.send_document(user["id"], png_of(scalp_photo(2)), "crown.png", "image/png")
    reply = await answer_to(tg, user["id"], sent["message_id"])
    assert reply["kind"] == "photo" and reply["caption"].startswith(SCALP_TITLE)

    fake = await tg.send_document(user["id"], b"%PDF-1.7 not really a jpeg", "scan.jpg",
                                  "image/jpeg")
    refusal = await answer_to(tg, user["id"], fake["message_id"])
    assert "이 파일은 이미지가 아니어서 분석할 수 없어요" in refusal["text"]
    statuses = [j["status"] for j in await settled_jobs(settings.db_path, user["id"])]
    assert statuses == ["done", "rejected"]


async def test_quality_gate_refusal_gets_retake_advice_and_rerun_buttons(bot, tg, user, settings):
    sent = await tg.send_photo(user["id"], dark_photo())
    reply = await answer_to(tg, user["id"], sent["message_id"])
    assert reply["kind"] == "text"
    assert "사진을 다시 보내 주시겠어요?" in reply["text"] and "너무 어두워요" in reply["text"]
    assert [label for label, _ in buttons(reply)] == ["두피 점검으로 다시", "피부 점검으로 다시"]
    assert rows(settings.db_path, "results", user["id"]) == []
    [job] = await settled_jobs(settings.db_path, user["id"])
    assert job["status"] == "rejected" and job["answered_at"] is not None


async def test_rerun_on_a_picture_of_no_one_explains_and_stores_nothing(bot, tg, user, settings, service):
    """The re-analyse button runs the same checks: forced to the scalp (then to the face), a
    picture of neither gets the Korean explanation, no grade and no history row."""
    if not service.real:
        pytest.skip("the evidence checks need the trained weights")
    sent = await tg.send_photo(user["id"], no_one_photo())
    first = await answer_to(tg, user["id"], sent["message_id"])
    assert first["kind"] == "text" and "두피나 얼굴 사진으로 보이지 않아요" in first["text"], _brief(first)
    for label, expected in (("두피 점검으로 다시", "이 사진에서 두피를 찾지 못했어요"),
                            ("피부 점검으로 다시", "이 사진에서 얼굴을 찾지 못했어요")):
        [data] = [d for text, d in buttons(first) if text == label]
        await tg.press_button(user["id"], first["message_id"], data)

        def explained(ms, expected=expected):
            return [m for m in visible(ms) if expected in (m.get("text") or "")]

        [answer] = explained(await wait_for(tg, user["id"], lambda ms: bool(explained(ms))))
        assert answer["kind"] == "text" and "기록에 남기지 않았어요" in answer["text"]
    assert rows(settings.db_path, "results", user["id"]) == []
    statuses = [j["status"] for j in await settled_jobs(settings.db_path, user["id"])]
    assert statuses.count("rejected") == len(statuses) >= 1


async def test_a_caption_chooses_the_check(bot, tg, user, proxy):
    """"피부" in the caption sends the photo to the face check without asking or routing."""
    sent = await tg.send_photo(user["id"], face_photo(1), caption="요즘 피부 트러블이 많아요")
    reply = await answer_to(tg, user["id"], sent["message_id"])
    assert proxy.records[-1].domain == "face"
    assert reply["kind"] == "photo" and reply["caption"].startswith(FACE_TITLE), _brief(reply)
    # /face: every later photo, until /auto
    command = await tg.send_command(user["id"], "face")
    assert "피부(얼굴) 점검으로 분석할게요" in (
        await reply_after(tg, user["id"], command["message_id"], "앞으로 보내 주시는"))["text"]
    sent = await tg.send_photo(user["id"], face_photo(2))
    await answer_to(tg, user["id"], sent["message_id"])
    assert proxy.records[-1].domain == "face"
    command = await tg.send_command(user["id"], "auto")
    assert "자동으로 골라" in (await reply_after(tg, user["id"], command["message_id"], "사진마다"))["text"]
    sent = await tg.send_photo(user["id"], face_photo(3))
    await answer_to(tg, user["id"], sent["message_id"])
    assert proxy.records[-1].domain == "auto"


async def test_everything_that_is_not_a_photo(bot, tg, user):
    cases = [
        (tg.send_text(user["id"], "안녕하세요"), "글 메시지는"),
        (tg.send_sticker(user["id"]), "스티커는"),
        (tg.send_video(user["id"], b"\x00\x00\x00\x18ftypmp42", duration=3), "동영상은"),
        (tg.send_voice(user["id"], b"OggS-voice", duration=2, mime_type="audio/ogg"), "음성 메시지는"),
        (tg.send_file("audio", user["id"], b"ID3-audio", file_name="a.mp3",
                      mime_type="audio/mpeg"), "오디오 파일은"),
        (tg.send_file("animation", user["id"], b"GIF89a", file_name="a.gif",
                      mime_type="image/gif"), "움직이는 이미지"),
        (tg.send_document(user["id"], b"%PDF-1.7", "report.pdf", "application/pdf"),
         "이미지가 아니어서"),
        (tg.send_photo(user["id"], None, oversize=True), "파일이 너무 커서"),
        (tg.send_document(user["id"], None, "huge.png", "image/png", oversize=True),
         "파일이 너무 커서"),
    ]
    for send, expected in cases:
        sent = await send
        reply = await reply_after(tg, user["id"], sent["message_id"], "")
        assert expected in reply["text"], (expected, reply["text"])
        assert "사진" in reply["text"]


# --- history, reminders, delete ----------------------------------------------------------------------


async def test_history_paging_reopen_and_trend_chart(bot, tg, user, settings):
    sent = await tg.send_photo(user["id"], scalp_photo(3))
    first = await answer_to(tg, user["id"], sent["message_id"])
    await settled_jobs(settings.db_path, user["id"])
    [real] = rows(settings.db_path, "results", user["id"])
    assert real["annotated_file_id"] == first["file_id"]
    # More history, as if from earlier months (same annotated photo file_id).
    storage = bot.bot_data["services"].storage
    now = utcnow()
    for months, (grade, ratio) in enumerate([("LOW", 0.12), ("MIDDLE", 0.2), ("MIDDLE", 0.24),
                                             ("HIGH", 0.4), ("UNCERTAIN", 0.3), ("LOW", 0.1)],
                                            start=1):
        job, _ = await storage.enqueue_job(
            user_id=user["id"], chat_id=user["id"], message_id=1000 + months,
            file_id="seed", file_unique_id="seed", now=now - timedelta(days=30 * months))
        await storage.add_result(
            job_id=job.job_id, user_id=user["id"], domain="scalp", grade=grade, confidence=0.7,
            measurements={"exposed_scalp_ratio": ratio, "view": "Top-Down"}, model_version="seed",
            annotated_file_id=first["file_id"], now=now - timedelta(days=30 * months))
    # the latest crown photo: another annotated picture, so there is a before / after pair
    later = await tg.send_photo(user["id"], scalp_photo(4))
    latest_photo = await answer_to(tg, user["id"], later["message_id"])
    await settled_jobs(settings.db_path, user["id"])
    job, _ = await storage.enqueue_job(
        user_id=user["id"], chat_id=user["id"], message_id=1999, file_id="seed",
        file_unique_id="seed", now=now + timedelta(minutes=1))
    await storage.add_result(
        job_id=job.job_id, user_id=user["id"], domain="scalp", grade="MIDDLE", confidence=0.7,
        measurements={"exposed_scalp_ratio": 0.45, "view": "Top-Down"}, model_version="seed",
        annotated_file_id=latest_photo["file_id"], now=now + timedelta(minutes=1))

    command = await tg.send_command(user["id"], "history")
    page = await reply_after(tg, user["id"], command["message_id"], "지난 자가 점검 기록",
                             timeout=20)
    assert page["text"].startswith("지난 자가 점검 기록") and "1/2쪽 · 전체 9건" in page["text"]
    labels = buttons(page)
    assert len([d for _, d in labels if d.startswith("open:")]) == 5
    assert labels[-1] == ("다음 ▶", "hist:2")
    messages = await wait_for(tg, user["id"], lambda ms: any(
        "변화 비교" in (m.get("caption") or "") for m in ms), timeout=30)
    [chart] = [m for m in messages if "변화 비교" in (m.get("caption") or "")]
    png = await tg.download(chart["file_id"])
    assert png.startswith(b"\x89PNG")
    assert "두피 변화 비교" in chart["caption"] and "의학적 진단이 아닙니다" in chart["caption"]
    # the change since the last graded crown photo (판단 어려움 is never compared)
    assert "% → 45% (" in chart["caption"] and "판단 어려움" not in chart["caption"]
    messages = await wait_for(tg, user["id"], lambda ms: any(
        "처음과 최근" in (m.get("caption") or "") for m in ms), timeout=30)
    [pair] = [m for m in messages if "처음과 최근" in (m.get("caption") or "")]
    assert pair["caption"].startswith("두피(정수리) 처음과 최근")
    assert (await tg.download(pair["file_id"]))[:3] == b"\xff\xd8\xff"

    await tg.press_button(user["id"], page["message_id"], "hist:2")
    await tg.calls("editMessageText", count=1, timeout=10)
    [edited] = [m for m in await tg.messages(user["id"]) if m["message_id"] == page["message_id"]]
    assert "2/2쪽" in edited["text"]
    assert buttons(edited)[-1] == ("◀ 이전", "hist:1")

    open_data = f"open:{real['result_id']}"
    await tg.press_button(user["id"], page["message_id"], "hist:1")
    await tg.calls("editMessageText", count=2, timeout=10)
    before = len(await tg.messages(user["id"]))
    await tg.press_button(user["id"], page["message_id"], open_data)
    messages = await wait_for(tg, user["id"], lambda ms: len(ms) > before, timeout=10)
    reopened = messages[-1]
    assert reopened["kind"] == "photo" and reopened["file_id"] == real["annotated_file_id"]
    assert reopened["caption"].startswith(SCALP_TITLE)

    # delete this one result: asked first, then gone from the history (and only it)
    assert buttons(reopened) == [("이 기록 삭제", f"rm:{real['result_id']}")]
    await tg.press_button(user["id"], reopened["message_id"], f"rm:{real['result_id']}")
    await tg.calls("editMessageReplyMarkup", count=1, timeout=10)
    [asked] = [m for m in await tg.messages(user["id"]) if m["message_id"] == reopened["message_id"]]
    assert [label for label, _ in buttons(asked)] == ["삭제할게요", "그대로 둘게요"]
    await tg.press_button(user["id"], reopened["message_id"], f"rm:{real['result_id']}:yes")
    await tg.calls("editMessageCaption", count=1, timeout=10)
    [done] = [m for m in await tg.messages(user["id"]) if m["message_id"] == reopened["message_id"]]
    assert done["caption"].startswith("이 기록을 지웠어요") and buttons(done) == []
    left = rows(settings.db_path, "results", user["id"])
    assert len(left) == 8 and real["result_id"] not in [r["result_id"] for r in left]

    other = await tg.create_user("서연")
    command = await tg.send_command(other["id"], "history")
    empty = await reply_after(tg, other["id"], command["message_id"], "지난 자가 점검 기록")
    assert "아직 저장된 결과가 없어요" in empty["text"] and buttons(empty) == []


async def test_remind_buttons_typed_settings_and_it_survives_a_restart(tg, user, settings):
    async with running_bot(settings):
        command = await tg.send_command(user["id"], "remind")
        status = await reply_after(tg, user["id"], command["message_id"], "정기 점검 알림이 꺼져 있어요")
        assert [label for label, _ in buttons(status)] == ["2주", "4주", "8주", "✓ 끄기"]
        await tg.press_button(user["id"], status["message_id"], "remind:28")

        def edited(ms):
            return [m for m in ms if m["message_id"] == status["message_id"] and "켰어요" in (m.get("text") or "")]

        [on] = edited(await wait_for(tg, user["id"], lambda ms: bool(edited(ms)), timeout=15))
        assert "4주마다" in on["text"] and "✓ 4주" in [label for label, _ in buttons(on)]
        off = await tg.send_command(user["id"], "remind", "off")
        reply = await reply_after(tg, user["id"], off["message_id"], "정기 점검 알림을 껐어요")
        assert "알림을 껐어요" in reply["text"] and "✓ 끄기" in [label for label, _ in buttons(reply)]
        [row] = rows(settings.db_path, "reminders", user["id"])
        assert row["enabled"] == 0
        typo = await tg.send_command(user["id"], "remind", "매주")
        reply = await reply_after(tg, user["id"], typo["message_id"], "‘매주’")
        assert "알아듣지 못했어요" in reply["text"] and len(buttons(reply)) == 4
        assert rows(settings.db_path, "reminders", user["id"])[0]["enabled"] == 0  # nothing changed
        on = await tg.send_command(user["id"], "remind", "4주")
        await reply_after(tg, user["id"], on["message_id"], "정기 점검 알림을 켰어요")
    # Stopped. A month passes: the reminder is due while the bot is down.
    async with await Storage.open(settings.db_path) as storage:
        reminder = await storage.get_reminder(user["id"])
        assert reminder.enabled and reminder.next_due_at > utcnow() + timedelta(days=27)
        await storage.bump_reminder(user["id"], utcnow() - timedelta(minutes=1))
    before = len(await tg.messages(user["id"]))
    async with running_bot(settings):
        messages = await wait_for(tg, user["id"], lambda ms: len(ms) > before, timeout=15)
        assert "정기 자가 점검 시간이에요" in messages[-1]["text"]
    async with await Storage.open(settings.db_path) as storage:
        reminder = await storage.get_reminder(user["id"])
        assert reminder.next_due_at > utcnow() + timedelta(days=27)  # four weeks on, sent once


async def test_delete_after_confirmation_leaves_no_row(bot, tg, user, settings):
    sent = await tg.send_photo(user["id"], scalp_photo(4))
    await answer_to(tg, user["id"], sent["message_id"])
    remind = await tg.send_command(user["id"], "remind", "2주")
    await reply_after(tg, user["id"], remind["message_id"], "정기 점검 알림을 켰어요")
    assert all(rows(settings.db_path, t, user["id"]) for t in TABLES)

    command = await tg.send_command(user["id"], "delete")
    confirm = await reply_after(tg, user["id"], command["message_id"], "모든 기록을 삭제할까요?")
    assert "모든 기록을 삭제할까요?" in confirm["text"]
    assert [d for _, d in buttons(confirm)] == ["del:yes", "del:no"]
    await tg.press_button(user["id"], confirm["message_id"], "del:no")
    await tg.calls("editMessageText", count=1, timeout=10)
    assert all(rows(settings.db_path, t, user["id"]) for t in TABLES)

    command = await tg.send_command(user["id"], "delete")
    confirm = await reply_after(tg, user["id"], command["message_id"], "모든 기록을 삭제할까요?")
    await tg.press_button(user["id"], confirm["message_id"], "del:yes")
    await tg.calls("editMessageText", count=2, timeout=10)
    [done] = [m for m in await tg.messages(user["id"]) if m["message_id"] == confirm["message_id"]]
    assert "모든 기록을 삭제했어요" in done["text"] and "분석 결과 1건" in done["text"]
    for table in TABLES:
        assert rows(settings.db_path, table, user["id"]) == [], table


# --- faults -----------------------------------------------------------------------------------------


async def test_service_down_then_up_nothing_lost_order_kept(bot, tg, user, settings, proxy):
    await proxy.take_down()
    first = await tg.send_photo(user["id"], scalp_photo(5))
    second = await tg.send_photo(user["id"], scalp_photo(6))
    await wait_for(tg, user["id"], lambda ms: any("지연" in (m.get("text") or "") for m in ms),
                   timeout=20)
    jobs = job_rows(settings.db_path, user["id"])
    assert [j["status"] for j in jobs] == ["pending", "pending"]
    assert jobs[0]["attempts"] >= 1 and jobs[1]["attempts"] == 0  # the second waits its turn
    assert photos(await tg.messages(user["id"])) == []

    await proxy.bring_up()
    one = await answer_to(tg, user["id"], first["message_id"])
    two = await answer_to(tg, user["id"], second["message_id"])
    assert one["kind"] == two["kind"] == "photo"
    assert one["message_id"] < two["message_id"]  # answered in the order sent
    messages = await tg.messages(user["id"])
    assert len(photos(messages)) == 2
    delayed = [m for m in visible(messages) if "지연" in (m.get("text") or "")]
    assert delayed == []  # the delay notice was replaced by the answer
    assert [j["status"] for j in await settled_jobs(settings.db_path, user["id"])] == ["done",
                                                                                      "done"]


async def test_service_5xx_and_slow_answers(bot, tg, user, settings, proxy):
    proxy.fail_next(2, status=503, code="busy")
    sent = await tg.send_photo(user["id"], scalp_photo(7))
    reply = await answer_to(tg, user["id"], sent["message_id"])
    assert reply["kind"] == "photo"
    [job] = await settled_jobs(settings.db_path, user["id"])
    assert job["attempts"] == 2 and job["status"] == "done"

    proxy.delay = 2.0  # slower than the "분석 중" threshold (1 s)
    sent = await tg.send_photo(user["id"], scalp_photo(8))
    reply = await answer_to(tg, user["id"], sent["message_id"])
    proxy.delay = 0.0
    assert reply["kind"] == "photo"
    def notices(messages: list[dict]) -> list[dict]:
        return [m for m in messages if "분석 중" in (m.get("text") or "")]

    messages = await wait_for(tg, user["id"], lambda ms: all(m["deleted"] for m in notices(ms)),
                              timeout=10)
    assert len(notices(messages)) == 1  # shown while it was slow, deleted with the answer


async def test_telegram_429_is_retried(bot, tg, user, settings):
    await tg.inject_fault("sendPhoto", 429, retry_after=1)
    sent = await tg.send_photo(user["id"], scalp_photo(9))
    reply = await answer_to(tg, user["id"], sent["message_id"])
    assert reply["kind"] == "photo"
    statuses = [c["status"] for c in await tg.calls("sendPhoto")]
    assert statuses == [429, 200]
    assert len(photos(await tg.messages(user["id"]))) == 1


async def test_duplicate_update_is_answered_once(bot, tg, user, settings):
    sent = await tg.send_photo(user["id"], scalp_photo(10))
    await tg.duplicate_update(sent["update_id"])
    await answer_to(tg, user["id"], sent["message_id"])
    later = await tg.send_command(user["id"], "help")  # the duplicate was handled before it
    guide = await reply_after(tg, user["id"], later["message_id"], "사용법")
    await settled_jobs(settings.db_path, user["id"])
    answers = [m for m in photos(await tg.messages(user["id"])) if m["message_id"] != guide["message_id"]]
    assert len(answers) == 1
    assert len(job_rows(settings.db_path, user["id"])) == 1


async def test_bot_killed_mid_job_then_restarted_answers_once(tg, user, settings, proxy, tmp_path):
    env = bot_environment(settings)
    env["INFERENCE_API_KEY"] = SERVICE_KEY
    log_path = tmp_path / "bot.log"

    async def start_bot() -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", env=env, cwd=Path(__file__).resolve().parents[2],
            stdout=log_path.open("ab"), stderr=asyncio.subprocess.STDOUT)

    proxy.hold()
    process = await start_bot()
    try:
        sent = await tg.send_photo(user["id"], scalp_photo(11))
        await proxy.wait_for_calls(1, timeout=60)  # the job is running, inside the service call
        process.kill()  # SIGKILL: no clean-up at all
        await process.wait()
        [job] = job_rows(settings.db_path, user["id"])
        assert job["status"] == "running" and job["answered_at"] is None
        proxy.release()
        await tg.duplicate_update(sent["update_id"])  # Telegram delivers it again, too

        process = await start_bot()
        reply = await answer_to(tg, user["id"], sent["message_id"])
        assert reply["kind"] == "photo"
        later = await tg.send_command(user["id"], "help")
        guide = await reply_after(tg, user["id"], later["message_id"], "사용법", timeout=20)
        answers = [m for m in photos(await tg.messages(user["id"])) if m["message_id"] != guide["message_id"]]
        assert len(answers) == 1
        [job] = await settled_jobs(settings.db_path, user["id"])
        assert job["status"] == "done" and job["answered_at"] is not None
    finally:
        proxy.release()
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 20)
            except TimeoutError:
                process.kill()
                await process.wait()
    log = log_path.read_text(errors="replace")
    assert "resuming 1 job(s)" in log
    assert TOKEN not in log and SERVICE_KEY not in log


async def test_fifty_users_at_once_all_answered(bot, tg, settings, service):
    users = [await tg.create_user(f"사용자{i}") for i in range(FIFTY)]
    images = [scalp_photo(i) for i in range(FIFTY)]
    started = time.monotonic()
    sent = await asyncio.gather(*(tg.send_photo(u["id"], img) for u, img in zip(users, images)))

    async def answered(u: dict, s: dict) -> dict:
        return await answer_to(tg, u["id"], s["message_id"], timeout=FIFTY_TIMEOUT)

    replies = await asyncio.gather(*(answered(u, s) for u, s in zip(users, sent)))
    elapsed = time.monotonic() - started
    print(f"\n[test_bot_e2e] {FIFTY} users answered in {elapsed:.1f} s "
          f"({'real' if service.real else 'stand-in'} service)")
    assert all(r["kind"] == "photo" for r in replies), [_brief(r) for r in replies]
    for u in users:
        assert len(photos(await tg.messages(u["id"]))) == 1
        [job] = await settled_jobs(settings.db_path, u["id"])
        assert job["status"] == "done"


# --- webhook mode and logs -------------------------------------------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_webhook_mode_with_secret_token(tg, user, settings):
    import aiohttp

    port = _free_port()
    hooked = settings.replace(webhook_url=f"http://127.0.0.1:{port}/tg/hook",
                              webhook_listen="127.0.0.1", webhook_port=port,
                              webhook_secret="hook-secret-e2e-0123")
    async with running_bot(hooked):
        [info] = await tg.bots()
        assert info["webhook"]["url"] == hooked.webhook_url
        sent = await tg.send_command(user["id"], "help")
        await reply_after(tg, user["id"], sent["message_id"], "사용법")
        async with aiohttp.ClientSession() as session:
            async with session.post(hooked.webhook_url, json={"update_id": 1},
                                    headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"}) as r:
                assert r.status == 403


async def test_logs_never_show_the_token_or_the_service_key(tg, user, settings, caplog):
    import logging

    install_log_redaction(settings.secrets())
    try:
        with caplog.at_level(logging.DEBUG):
            async with running_bot(settings):
                sent = await tg.send_photo(user["id"], dark_photo())
                await answer_to(tg, user["id"], sent["message_id"])
        assert caplog.records, "expected some logging"
        assert "getUpdates" in caplog.text  # PTB / httpx log the URLs that carry the token
        assert TOKEN not in caplog.text and SERVICE_KEY not in caplog.text
        assert REDACTED in caplog.text
    finally:
        uninstall_log_redaction()
