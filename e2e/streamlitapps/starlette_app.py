"""A stand-in for Streamlit 1.57 and newer (Starlette server), for stauth's tests.

Reads the identity the way Streamlit does: _streamlit_user (and
_streamlit_user_tokens) through URLSafeTimedSerializer(cookie_secret,
salt=cookie name).loads(max_age=31 days), joined from _streamlit_user_1..N
when the main cookie holds "chunks-N".

usage: starlette_app.py PORT COOKIE_SECRET [BASE_PATH]
  <base>/_stcore/health   "ok"
  <base>/_stcore/whoami   GET: the identity as JSON
  <base>/_stcore/stream   WebSocket: sends the identity as one JSON message
The identity: {"user": payload or null, "tokens": payload or null,
"origin": the request's Origin header or null}.
Listens on 127.0.0.1 only; prints "ready <port>" once listening.
"""

import json
import sys

import itsdangerous
import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route, WebSocketRoute

import streamlit_identity

SECRET = sys.argv[2]


def read_cookie(cookies, name):
    value = cookies.get(name)
    if value is None:
        return None
    try:
        text = itsdangerous.URLSafeTimedSerializer(SECRET, salt=name).loads(value, max_age=31 * 86400)
    except itsdangerous.BadSignature:
        return None
    return text if isinstance(text, str) else None


def identity(conn):
    return streamlit_identity.identity(lambda name: read_cookie(conn.cookies, name), conn.headers.get("origin"))


async def health(request):
    return PlainTextResponse("ok")


async def whoami(request):
    return JSONResponse(identity(request))


async def stream(websocket):
    await websocket.accept()
    await websocket.send_text(json.dumps(identity(websocket)))
    await websocket.close()


class Ready(uvicorn.Server):
    async def startup(self, sockets=None):
        await super().startup(sockets=sockets)
        if self.started:
            print("ready", self.config.port, flush=True)


if __name__ == "__main__":
    port = int(sys.argv[1])
    base = "/" + sys.argv[3].strip("/") if len(sys.argv) > 3 and sys.argv[3].strip("/") else ""
    app = Starlette(
        routes=[
            Route(base + "/_stcore/health", health),
            Route(base + "/_stcore/whoami", whoami),
            WebSocketRoute(base + "/_stcore/stream", stream),
        ]
    )
    config = uvicorn.Config(app, host="127.0.0.1", port=port, ws="wsproto", log_level="warning", lifespan="off")
    Ready(config).run()
