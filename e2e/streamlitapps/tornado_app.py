"""A stand-in for Streamlit 1.56 and older (Tornado server), for stauth's tests.

Reads the identity the way Streamlit does: Tornado's signed cookie
_streamlit_user (and _streamlit_user_tokens), at most 31 days old, joined from
_streamlit_user_1..N when the main cookie holds "chunks-N".

usage: tornado_app.py PORT COOKIE_SECRET [BASE_PATH]
  <base>/                 an HTML page whose script opens the WebSocket and
                          shows the identity it receives (see page.html)
  <base>/_stcore/health   "ok"
  <base>/_stcore/whoami   GET: the identity as JSON
  <base>/_stcore/stream   WebSocket: sends the identity as one JSON message
The identity: {"user": payload or null, "tokens": payload or null,
"origin": the request's Origin header or null}.
Listens on 127.0.0.1 only; prints "ready <port>" once listening.
"""

import asyncio
import json
import os
import sys

import tornado.web
import tornado.websocket

import streamlit_identity



def read_cookie(handler, name):
    """One signed cookie: get_signed_cookie (Tornado 6.3+) or get_secure_cookie."""
    get = getattr(handler, "get_signed_cookie", None) or handler.get_secure_cookie
    return get(name, max_age_days=31)


def identity(handler):
    def read(name):
        value = read_cookie(handler, name)
        return None if value is None else value.decode("utf-8")

    return streamlit_identity.identity(read, handler.request.headers.get("Origin"))


def page(base):
    """page.html with the app's base path filled in."""
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "page.html"), encoding="utf-8") as f:
        return f.read().replace("{{BASE}}", base)


class Index(tornado.web.RequestHandler):
    def initialize(self, html):
        self.html = html

    def get(self):
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.write(self.html)


class Health(tornado.web.RequestHandler):
    def get(self):
        self.write("ok")


class WhoAmI(tornado.web.RequestHandler):
    def get(self):
        self.set_header("Content-Type", "application/json")
        self.write(json.dumps(identity(self)))


class Stream(tornado.websocket.WebSocketHandler):
    def check_origin(self, origin):
        return True  # reported back instead, for the test to check

    def open(self):
        self.write_message(json.dumps(identity(self)))


async def main():
    port, secret = int(sys.argv[1]), sys.argv[2]
    base = "/" + sys.argv[3].strip("/") if len(sys.argv) > 3 and sys.argv[3].strip("/") else ""
    app = tornado.web.Application(
        [
            (base + "/", Index, {"html": page(base)}),
            (base + "/_stcore/health", Health),
            (base + "/_stcore/whoami", WhoAmI),
            (base + "/_stcore/stream", Stream),
        ],
        cookie_secret=secret,
    )
    app.listen(port, address="127.0.0.1")
    print("ready", port, flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
