"""What every page shares: the templates, the session of a request, Chinese error pages."""

from __future__ import annotations

from pathlib import Path

from fastapi import Request
from fastapi.templating import Jinja2Templates

from pipelines import settings
from pipelines.web.security import SESSION_COOKIE, Session, SessionStore

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.globals["bureau_names"] = settings.bureaus


class PageError(Exception):
    """A refusal or bad input, shown to the user as a Chinese message with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


DENIED_MESSAGE = "无权访问：数据中心的存储服务拒绝了该请求。每个委办局只能访问本单位的文件、回执、催报和评分。"


def store(request: Request) -> SessionStore:
    return request.app.state.sessions


def session_of(request: Request) -> Session | None:
    return store(request).get(request.cookies.get(SESSION_COOKIE))


def clerk(request: Request) -> Session:
    """The signed-in clerk's session, else a 401 page asking to sign in."""
    session = session_of(request)
    if session is None or not session.signed_in:
        raise PageError(401, "请先登录数据报送门户。")
    return session


def render(request: Request, template: str, status: int = 200, **ctx):
    session = session_of(request)
    ctx.setdefault("session", session)
    ctx.setdefault("csrf", session.csrf if session else "")
    return templates.TemplateResponse(request, template, ctx, status_code=status)
