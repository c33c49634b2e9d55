"""Who may talk to the local Bot API server (localchat/botapi/guard.py), over real HTTP.

A web page the person visits must not drive the control API (cross-origin form posts,
a DNS-rebound name), the control secret is random unless given and only the server's
own origin can read it, control bodies are JSON, and new user ids are not sequential.
The page itself in a browser is ``tests/localchat/test_webchat_browser.py``.
"""

from __future__ import annotations

import aiohttp
import pytest
import telegram
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from localchat.botapi import ControlError, LocalApiClient, Settings, serve
from localchat.botapi.protocol import CONTROL_SECRET_HEADER, USER_ID_RANGE

TOKEN = "123456:GUARD-token_for-the-local-bot-api-0000"
EVIL = "http://evil.example"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
async def server():
    async with serve(Settings(tokens=(TOKEN,))) as running:
        yield running


@pytest.fixture
async def tg(server):
    async with LocalApiClient(server.url) as client:
        yield client


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as http:
        yield http


@pytest.fixture
async def bot(server):
    async with telegram.Bot(TOKEN, base_url=server.base_url,
                            base_file_url=server.base_file_url) as b:
        yield b


def host_of(server) -> str:
    return server.url.removeprefix("http://")


async def call(session, method: str, url: str, **kwargs) -> tuple[int, dict]:
    async with session.request(method, url, **kwargs) as response:
        return response.status, await response.json(content_type=None)


def refused(status: int, body: dict, code: int = 403) -> bool:
    return (status, body["ok"], body["error_code"]) == (code, False, code) and bool(
        body["description"] and body["error"])


async def test_cross_origin_form_posts_are_refused_and_change_nothing(server, tg, session, bot):
    user = await tg.create_user("민준")
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("삭제 확인", callback_data="delete:yes")]])
    confirm = await bot.send_message(user["id"], "정말 지울까요?", reply_markup=keyboard)
    before = await tg.pending_updates()
    control = server.control_url
    # what <form action=... method=post> on another site sends: its Origin, a form body
    attacks = [
        ("updates/text", {"user_id": str(user["id"]), "text": "/delete"}),
        ("updates/command", {"user_id": str(user["id"]), "command": "delete"}),
        ("updates/callback", {"user_id": str(user["id"]), "message_id": str(confirm.message_id),
                              "data": "delete:yes"}),
        ("users", {"user_id": "777"}),
        ("reset", {}),
    ]
    for path, fields in attacks:
        for headers in ({"Origin": EVIL}, {"Origin": EVIL, CONTROL_SECRET_HEADER: server.control_secret},
                        {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"}):
            status, body = await call(session, "POST", control + path, data=fields, headers=headers)
            assert refused(status, body), (path, headers, status, body)
        # text/plain and multipart forms, also simple requests without a preflight
        status, body = await call(session, "POST", control + path, data=b"text=/delete",
                                  headers={"Origin": EVIL, "Content-Type": "text/plain"})
        assert refused(status, body)
        form = aiohttp.FormData(fields or {"x": "1"})
        form.add_field("file", b"x", filename="x.jpg", content_type="image/jpeg")
        status, body = await call(session, "POST", control + "updates/photo", data=form,
                                  headers={"Origin": EVIL})
        assert refused(status, body)
    # the same JSON calls from the server's own origin, with the secret, work
    own = {"Origin": server.url, CONTROL_SECRET_HEADER: server.control_secret}
    assert await tg.pending_updates() == before
    assert [m["message_id"] for m in await tg.messages(user["id"], sender="all")] == [confirm.message_id]
    assert await tg.callback_answers() == [] and len(server.world.users) == 1
    status, body = await call(session, "POST", control + "updates/callback", headers=own,
                              json={"user_id": user["id"], "message_id": confirm.message_id,
                                    "data": "delete:yes"})
    assert status == 200 and body["ok"] and body["callback_query_id"]
    assert [u["callback_query"]["data"] for u in await tg.pending_updates()] == ["delete:yes"]


async def test_the_bot_api_refuses_other_origins_too(server, tg, session):
    user = await tg.create_user("서연")
    url = f"{server.base_url}{TOKEN}/sendMessage"
    status, body = await call(session, "POST", url, data={"chat_id": str(user["id"]), "text": "가짜"},
                              headers={"Origin": EVIL})
    assert refused(status, body)
    assert await tg.messages(user["id"]) == []
    status, body = await call(session, "POST", url, data={"chat_id": str(user["id"]), "text": "진짜"})
    assert status == 200 and body["result"]["text"] == "진짜"


async def test_only_loopback_host_names(server, tg, session):
    port = server.port
    user = await tg.create_user("지우")
    secret = {CONTROL_SECRET_HEADER: server.control_secret}
    # a DNS-rebound page: the browser sends the attacker's name as Host (and no Origin: same origin)
    for host in (f"evil.example:{port}", "evil.example", f"127.0.0.1.nip.io:{port}", f"localhost.:{port}",
                 "", f"[::1:{port}", f"localhost:{port}x"):
        for method, path, kwargs in (
            ("GET", "/_control/secret", {}),
            ("GET", f"/_control/chats/{user['id']}/feed", {"headers": secret}),
            ("POST", "/_control/updates/text", {"json": {"user_id": user["id"], "text": "/delete"},
                                                "headers": secret}),
            ("GET", "/chat/", {}),
            ("GET", "/chat/chat.js", {}),
            ("GET", f"/bot{TOKEN}/getUpdates", {}),
        ):
            headers = {**kwargs.pop("headers", {}), "Host": host}
            status, body = await call(session, method, server.url + path, headers=headers, **kwargs)
            assert refused(status, body), (host, path, status, body)
    assert await tg.pending_updates() == []
    for host in (f"localhost:{port}", f"LOCALHOST:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", "localhost"):
        async with session.get(server.chat_url, headers={"Host": host}) as response:
            assert response.status == 200, host
        status, body = await call(session, "GET", server.control_url + "bots",
                                  headers={"Host": host, **secret})
        assert status == 200 and body["ok"], host


async def test_a_configured_host_is_accepted():
    async with serve(Settings(tokens=(TOKEN,), allowed_hosts=("chat.test",))) as server, \
            aiohttp.ClientSession() as session:
        async with session.get(server.chat_url, headers={"Host": f"chat.test:{server.port}"}) as response:
            assert response.status == 200
        async with session.get(server.chat_url, headers={"Host": f"other.test:{server.port}"}) as response:
            assert response.status == 403
    # bound to a specific non-loopback-name address: that address is accepted as Host
    async with serve(Settings(tokens=(TOKEN,)), host="127.0.0.2") as server, \
            LocalApiClient(server.url) as tg:
        assert server.url.startswith("http://127.0.0.2:")
        assert (await tg.create_user("하준"))["first_name"] == "하준"


async def test_the_control_secret_is_random_and_required(server, tg, session):
    secret = server.control_secret
    assert len(secret) >= 32
    async with serve(Settings(tokens=(TOKEN,))) as other:
        assert other.control_secret != secret
    control = server.control_url
    for headers in ({}, {CONTROL_SECRET_HEADER: ""}, {CONTROL_SECRET_HEADER: secret[:-1]},
                    {CONTROL_SECRET_HEADER: secret + "x"}, {"Origin": server.url}):
        status, body = await call(session, "POST", control + "users", json={}, headers=headers)
        assert refused(status, body), headers
        status, body = await call(session, "GET", control + "bots", headers=headers)
        assert refused(status, body), headers
    assert server.world.users == {}
    # the client fetched it from the server (as the page does), from its own origin
    assert await tg.control_secret() == secret
    own = {"Origin": server.url, "Sec-Fetch-Site": "same-origin"}
    async with session.get(control + "secret", headers=own) as response:
        assert response.status == 200
        assert (await response.json())["secret"] == secret
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["Cross-Origin-Resource-Policy"] == "same-origin"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    for headers in ({"Origin": EVIL}, {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"},
                    {"Origin": server.url.replace("127.0.0.1", "localhost")}):
        status, body = await call(session, "GET", control + "secret", headers=headers)
        assert refused(status, body) and secret not in str(body), headers
    status, body = await call(session, "POST", control + "users", json={"first_name": "도윤"},
                              headers={**own, CONTROL_SECRET_HEADER: secret})
    assert status == 200 and body["user"]["first_name"] == "도윤"


async def test_an_explicit_secret_is_never_handed_out(session):
    async with serve(Settings(tokens=(TOKEN,), control_secret="given-secret-0123")) as server:
        assert server.control_secret == "given-secret-0123"
        status, body = await call(session, "GET", server.control_url + "secret")
        assert refused(status, body) and "given-secret" not in str(body)
        async with LocalApiClient(server.url) as intruder:
            assert await intruder.control_secret() is None
            with pytest.raises(ControlError) as no:
                await intruder.create_user()
            assert no.value.status == 403
        async with LocalApiClient(server.url, control_secret="given-secret-0123") as insider:
            assert (await insider.create_user("지호"))["first_name"] == "지호"


async def test_control_bodies_must_be_json(server, tg, session):
    user = await tg.create_user("예준")
    secret = {CONTROL_SECRET_HEADER: server.control_secret}
    control = server.control_url
    for data, content_type in (({"user_id": str(user["id"]), "text": "hi"}, FORM),
                               (b"user_id=1&text=hi", "text/plain"),
                               (b'{"user_id": 1, "text": "hi"}', "text/plain;charset=UTF-8")):
        status, body = await call(session, "POST", control + "updates/text", data=data,
                                  headers={**secret, "Content-Type": content_type})
        assert refused(status, body, 415), content_type
    # multipart only where a file is uploaded
    form = aiohttp.FormData({"user_id": str(user["id"]), "text": "hi"})
    form.add_field("file", b"x", filename="x.txt", content_type="text/plain")
    status, body = await call(session, "POST", control + "updates/text", data=form, headers=secret)
    assert refused(status, body, 415)
    assert await tg.pending_updates() == []
    sent = await tg.send_document(user["id"], b"%PDF-1.4", "a.pdf", "application/pdf")
    assert sent["message"]["document"]["file_name"] == "a.pdf"
    status, body = await call(session, "POST", control + "updates/text", headers=secret,
                              json={"user_id": user["id"], "text": "hi"})
    assert status == 200 and body["message"]["text"] == "hi"
    await tg.clear_faults()  # DELETE without a body


async def test_files_need_no_secret_but_stay_same_origin(server, tg, session, bot):
    user = await tg.create_user("수아")
    sent = await tg.send_document(user["id"], b"hello", "hello.txt", "text/plain")
    (view,) = await tg.messages(user["id"], sender="user")
    async with session.get(view["file_url"]) as response:  # as <img src> / a link in the page
        assert response.status == 200 and await response.read() == b"hello"
        assert response.headers["Cross-Origin-Resource-Policy"] == "same-origin"
    status, body = await call(session, "GET", view["file_url"], headers={"Sec-Fetch-Site": "cross-site"})
    assert refused(status, body)
    assert sent["message_id"] == view["message_id"]


async def test_the_page_cannot_be_framed(server, session):
    async with session.get(server.chat_url) as response:
        assert response.status == 200
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    # followed from a link on another site: the page opens (it holds no secret)
    async with session.get(server.chat_url, headers={"Sec-Fetch-Site": "cross-site"}) as response:
        assert response.status == 200


async def test_new_user_ids_are_random_and_explicit_ids_kept(tg):
    ids = [(await tg.create_user(f"사용자{i}"))["id"] for i in range(8)]
    low, high = USER_ID_RANGE
    assert len(set(ids)) == len(ids) and all(low <= i <= high for i in ids)
    assert sorted(b - a for a, b in zip(ids, ids[1:])) != [1] * (len(ids) - 1)
    assert (await tg.create_user("고정", user_id=4242))["id"] == 4242
