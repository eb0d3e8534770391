"""The web app's parts that need no S3 server: sessions, CSRF, number format, the 500 page."""

from __future__ import annotations

import logging
import threading
import time
import urllib.error
import urllib.request

import uvicorn

from pipelines.tools import s3server
from pipelines.web import app as web_app
from pipelines.web import cockpit, security


def test_sign_in_gives_a_new_session_id_and_csrf_token():
    store = security.SessionStore()
    anon = store.new()
    signed = store.sign_in(anon, "hotline", "AK", "SK")
    assert signed.sid != anon.sid and signed.csrf != anon.csrf
    assert store.get(anon.sid) is None and store.get(signed.sid) is signed
    assert security.csrf_ok(signed, signed.csrf)
    assert (
        not security.csrf_ok(signed, anon.csrf) and not security.csrf_ok(signed, "") and not security.csrf_ok(None, "x")
    )
    assert "SK" not in repr(signed) and "AK" not in repr(signed)


def test_sessions_expire():
    store = security.SessionStore(ttl_s=0.05)
    s = store.new()
    time.sleep(0.1)
    assert store.get(s.sid) is None


def test_number_format():
    assert [cockpit.fmt(v) for v in (None, 3.0, 0.123456, 2)] == ["—", "3", "0.1235", "2"]


def test_an_unexpected_error_is_a_chinese_page_without_a_trace(caplog):
    app = web_app.create_app()

    @app.get("/boom")
    def boom():
        raise ValueError("13800001234 secret detail")

    port = s3server.free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, access_log=False, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        with caplog.at_level(logging.INFO, logger="shuzhong.web"):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/boom?id=13800001234")
                raise AssertionError("expected a 500")
            except urllib.error.HTTPError as exc:
                assert exc.code == 500
                body = exc.read().decode()
        assert "系统内部错误" in body and "错误编号" in body
        assert "Traceback" not in body and "secret detail" not in body and "13800001234" not in body
        logged = "\n".join(r.getMessage() for r in caplog.records)
        assert "ValueError" in logged and "13800001234" not in logged and "secret detail" not in logged
        assert "/boom 500" in logged
    finally:
        server.should_exit = True
        thread.join(timeout=10)
