"""The web app: one FastAPI application (portal, cockpit, catalogue), served by uvicorn.

Pages are server-rendered (Jinja2, autoescaped), scripts and styles are static files of this
package (Chart.js vendored under ``static/vendor``; no CDN), and a Content-Security-Policy allows
nothing else. Errors become Chinese pages with no stack trace; the access log names the route
template, never the path's values or the query string (keys and file names may hold personal data)."""

from __future__ import annotations

import logging
import secrets
import time

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from pipelines.web import catalogue, cockpit, portal
from pipelines.web.common import HERE, PageError, render
from pipelines.web.security import SessionStore

ACCESS_LOG = logging.getLogger("shuzhong.web.access")
ERROR_LOG = logging.getLogger("shuzhong.web.error")
HTTP_ZH = {
    400: "请求有误，请检查填写的内容。",
    401: "请先登录。",
    403: "无权访问。",
    404: "页面不存在。",
    405: "不支持该请求方式。",
    413: "提交的内容过大。",
    422: "提交的内容格式不正确，请检查后重试。",
}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def _route(request: Request) -> str:
    if request.url.path.startswith("/static/"):
        return "/static/*"
    route = request.scope.get("route")
    return getattr(route, "path", None) or "(no route)"


def _error_page(request: Request, status: int, message: str):
    return render(request, "error.html", status=status, code=status, message=message)


def create_app() -> FastAPI:
    app = FastAPI(title="枣庄市大数据中心", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.sessions = SessionStore()
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.include_router(portal.router)
    app.include_router(cockpit.router)

    @app.get("/")
    def index(request: Request):
        return render(request, "index.html")

    @app.get("/catalogue")
    def catalogue_page(request: Request):
        try:
            entries = catalogue.entries()
        except FileNotFoundError:
            raise PageError(503, "数据资源目录尚未生成：没有找到 dbt 项目的 manifest（请先运行 make demo）。") from None
        return render(request, "catalogue.html", entries=entries)

    @app.exception_handler(PageError)
    def page_error(request: Request, exc: PageError):
        return _error_page(request, exc.status, exc.message)

    @app.exception_handler(StarletteHTTPException)
    def http_error(request: Request, exc: StarletteHTTPException):
        return _error_page(request, exc.status_code, HTTP_ZH.get(exc.status_code, "请求未能完成。"))

    @app.exception_handler(RequestValidationError)
    def invalid(request: Request, exc: RequestValidationError):
        return _error_page(request, 400, HTTP_ZH[422])

    @app.middleware("http")
    async def guard(request: Request, call_next):
        started = time.monotonic()
        try:
            response = await call_next(request)
        except Exception as exc:  # never a stack trace to the user, nor values in the log
            ref = secrets.token_hex(4)
            ERROR_LOG.error("error %s in %s %s: %s", ref, request.method, _route(request), type(exc).__name__)
            response = _error_page(
                request, 500, f"系统内部错误，请稍后重试。如持续出现，请联系数据中心（错误编号 {ref}）。"
            )
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        if not request.url.path.startswith("/static/"):
            response.headers["Cache-Control"] = "no-store"
        ACCESS_LOG.info(
            "%s %s %s %.0fms",
            request.method,
            _route(request),
            response.status_code,
            1000 * (time.monotonic() - started),
        )
        return response

    return app


def configure_logging() -> None:
    log = logging.getLogger("shuzhong.web")
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)


def server(host: str = "127.0.0.1", port: int = 8000):
    """A uvicorn server of the app (uvicorn's own access log is off: it would print raw paths and queries)."""
    import uvicorn

    configure_logging()
    config = uvicorn.Config(
        create_app(), host=host, port=port, access_log=False, server_header=False, log_level="warning"
    )
    return uvicorn.Server(config)


def serve(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve in the foreground until Ctrl-C."""
    server(host, port).run()
