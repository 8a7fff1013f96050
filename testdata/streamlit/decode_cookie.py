"""Reads Streamlit identity cookies with the real libraries, for streamlit_test.go.

stdin: a JSON list of requests; stdout: a JSON list of answers, one each.
  {"op": "decode", "format": "tornado"|"starlette", "secret", "name", "header"}
      parses the Cookie header with the server's own parser, then reads the
      cookie `name` (joining chunks-N as Streamlit does) with
      tornado.web.decode_signed_value(max_age_days=31) or
      URLSafeTimedSerializer(secret, salt=name).loads(max_age=31 days):
      {"payload": text or null, "names": [cookie names the parser saw]}
  {"op": "sign", "format", "secret", "name", "value", "ts"}
      the library's own signed value for value at unix time ts: {"signed": text}
"""

import json
import re
import sys

import itsdangerous
import starlette.requests
import tornado.httputil
import tornado.web

MAX_AGE_DAYS = 31
CHUNKS = re.compile(rb"chunks-(\d+)")


def parse(fmt, header):
    if fmt == "tornado":
        return tornado.httputil.parse_cookie(header)
    return starlette.requests.cookie_parser(header)


def read_one(fmt, secret, name, cookies):
    value = cookies.get(name)
    if value is None:
        return None
    if fmt == "tornado":
        return tornado.web.decode_signed_value(secret, name, value, max_age_days=MAX_AGE_DAYS)
    try:
        text = itsdangerous.URLSafeTimedSerializer(secret, salt=name).loads(
            value, max_age=MAX_AGE_DAYS * 86400
        )
    except itsdangerous.BadSignature:
        return None
    return text.encode("utf-8") if isinstance(text, str) else None


def read_chunked(fmt, secret, name, cookies):
    main = read_one(fmt, secret, name, cookies)
    if main is None:
        return None
    m = CHUNKS.match(main)
    if m is None:
        return main
    parts = []
    for i in range(int(m.group(1))):
        part = read_one(fmt, secret, "%s_%d" % (name, i + 1), cookies)
        if part is None:
            return None
        parts.append(part)
    return b"".join(parts)


def sign(fmt, secret, name, value, ts):
    if fmt == "tornado":
        return tornado.web.create_signed_value(secret, name, value, version=2, clock=lambda: ts).decode()

    class FixedTime(itsdangerous.TimestampSigner):
        def get_timestamp(self):
            return ts

    return itsdangerous.URLSafeTimedSerializer(secret, salt=name, signer=FixedTime).dumps(value)


def answer(req):
    if req["op"] == "sign":
        return {"signed": sign(req["format"], req["secret"], req["name"], req["value"], req["ts"])}
    cookies = parse(req["format"], req["header"])
    payload = read_chunked(req["format"], req["secret"], req["name"], cookies)
    return {
        "payload": None if payload is None else payload.decode("utf-8"),
        "names": sorted(cookies),
    }


json.dump([answer(r) for r in json.load(sys.stdin)], sys.stdout)
