"""What both stand-ins share: reading the user the way Streamlit does.

read(name) returns one cookie's verified value as text, or None; the
stand-ins differ only in how they verify (Tornado's signed values,
itsdangerous' URLSafeTimedSerializer).
"""

import json
import re

CHUNKS = re.compile(r"chunks-(\d+)")


def read_chunked(read, name):
    """A cookie as Streamlit reads it, joining chunks-N from name_1..name_N."""
    value = read(name)
    if value is None:
        return None
    m = CHUNKS.match(value)
    if m is None:
        return value
    parts = [read("%s_%d" % (name, i + 1)) for i in range(int(m.group(1)))]
    if any(p is None for p in parts):
        return None
    return "".join(parts)


def identity(read, origin):
    """The identity a stand-in answers: the user, the tokens, the Origin."""

    def load(name):
        raw = read_chunked(read, name)
        return None if raw is None else json.loads(raw)

    return {
        "user": load("_streamlit_user"),
        "tokens": load("_streamlit_user_tokens"),
        "origin": origin,
    }
