package stauth

import (
	"bytes"
	"compress/zlib"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// asciiJSON marshals v and escapes every non-ASCII character as \uXXXX.
func asciiJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	ascii := true
	for _, c := range b {
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return b, nil
	}
	out := make([]byte, 0, len(b)+32)
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		b = b[n:]
		if r < utf8.RuneSelf {
			out = append(out, byte(r))
			continue
		}
		out = appendJSONRuneEscape(out, r)
	}
	return out, nil
}

// appendJSONRuneEscape appends r as \uXXXX, or as a surrogate pair, lower-case
// hex as Python writes it.
func appendJSONRuneEscape(dst []byte, r rune) []byte {
	const hex = "0123456789abcdef"
	one := func(dst []byte, u rune) []byte {
		return append(dst, '\\', 'u', hex[u>>12&15], hex[u>>8&15], hex[u>>4&15], hex[u&15])
	}
	if r > 0xFFFF {
		hi, lo := utf16.EncodeRune(r)
		return one(one(dst, hi), lo)
	}
	return one(dst, r)
}

// mintStreamlitCookie returns the Cookie header pairs holding payload under
// name, split as Streamlit 1.53+ splits a cookie too big for a browser: the
// main cookie holds the signed text chunks-N and name_1…name_N hold signed
// slices of payload.
func mintStreamlitCookie(f streamlitUserFormat, secret, name string, payload []byte, now time.Time) string {
	ts := now.Add(-streamlitMintSkew).Unix()
	whole := signStreamlitValue(f, secret, name, payload, ts)
	if len(name)+1+len(whole)+streamlitCookieAttrs <= streamlitMaxCookie {
		return name + "=" + whole
	}
	// Streamlit measures its signing overhead on a one-byte value whose
	// base64 is 4 bytes long.
	overhead := len(signStreamlitValue(f, secret, name, []byte("x"), ts)) - 4 + streamlitSigningSlack
	chunk := (streamlitMaxCookie - len(name) - 1 - streamlitCookieAttrs - overhead) * 3 / 4
	n := 0
	for rest := payload; len(rest) > 0; n++ {
		rest = rest[streamlitChunkCut(rest, chunk):]
	}
	var b strings.Builder
	b.Grow(n * (streamlitMaxCookie + len(name) + 8))
	b.WriteString(name)
	b.WriteByte('=')
	b.WriteString(signStreamlitValue(f, secret, name, []byte("chunks-"+strconv.Itoa(n)), ts))
	for i, rest := 0, payload; len(rest) > 0; i++ {
		cut := streamlitChunkCut(rest, chunk)
		part := rest[:cut]
		rest = rest[cut:]
		chunkName := name + "_" + strconv.Itoa(i+1)
		b.WriteString("; ")
		b.WriteString(chunkName)
		b.WriteByte('=')
		b.WriteString(signStreamlitValue(f, secret, chunkName, part, ts))
	}
	return b.String()
}

// streamlitChunkCut is the length of the next chunk of rest: chunk bytes,
// less when that would split a UTF-8 character (the payloads stauth builds
// are ASCII, where Streamlit's cut by characters and by bytes agree).
func streamlitChunkCut(rest []byte, chunk int) int {
	cut := min(chunk, len(rest))
	for cut < len(rest) && cut > 1 && !utf8.RuneStart(rest[cut]) {
		cut--
	}
	return cut
}

// signStreamlitValue signs value for the cookie name in format f with the
// unix time ts.
func signStreamlitValue(f streamlitUserFormat, secret, name string, value []byte, ts int64) string {
	if f == streamlitUserStarlette {
		return signItsdangerous(secret, name, value, ts)
	}
	return signTornado(secret, name, value, ts)
}

// signTornado is Tornado's create_signed_value, version 2 (key version 0):
// 2|1:0|<n>:<ts>|<n>:<name>|<n>:<base64 value>|<hex HMAC-SHA256 of all before>.
func signTornado(secret, name string, value []byte, ts int64) string {
	var tsBuf [20]byte
	tsText := strconv.AppendInt(tsBuf[:0], ts, 10)
	b64Len := base64.StdEncoding.EncodedLen(len(value))
	b := make([]byte, 0, 32+len(tsText)+len(name)+b64Len+hex.EncodedLen(sha256.Size))
	field := func(b []byte, n int) []byte {
		b = strconv.AppendInt(b, int64(n), 10)
		return append(b, ':')
	}
	b = append(b, "2|1:0|"...)
	b = field(b, len(tsText))
	b = append(b, tsText...)
	b = append(b, '|')
	b = field(b, len(name))
	b = append(b, name...)
	b = append(b, '|')
	b = field(b, b64Len)
	b = base64.StdEncoding.AppendEncode(b, value)
	b = append(b, '|')
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(b)
	var sum [sha256.Size]byte
	b = hex.AppendEncode(b, mac.Sum(sum[:0]))
	return string(b)
}

// zlibWriters keeps zlib writers for signItsdangerous: a new one allocates
// hundreds of kilobytes.
var zlibWriters = sync.Pool{New: func() any {
	w, _ := zlib.NewWriterLevel(nil, zlib.DefaultCompression)
	return w
}}

// signItsdangerous is itsdangerous' URLSafeTimedSerializer(secret,
// salt=name).dumps(value as a str), as Streamlit's Starlette server calls it:
// body.ts.sig in unpadded URL-safe base64, where body is value as a compact
// JSON string, zlib-compressed behind a '.' when that saves at
// least 2 bytes, ts the big-endian time without leading zero bytes, and sig
// HMAC-SHA1 keyed with SHA1(salt + "signer" + secret).
func signItsdangerous(secret, name string, value []byte, ts int64) string {
	js := appendPythonJSONString(make([]byte, 0, len(value)+len(value)/8+2), value)
	body := js
	compressed := false
	if len(js) > 16 {
		var zbuf bytes.Buffer
		zbuf.Grow(len(js))
		w := zlibWriters.Get().(*zlib.Writer)
		w.Reset(&zbuf)
		w.Write(js)
		w.Close()
		zlibWriters.Put(w)
		if zbuf.Len() < len(js)-1 {
			body, compressed = zbuf.Bytes(), true
		}
	}
	var tsBytes [8]byte
	binary.BigEndian.PutUint64(tsBytes[:], uint64(ts))
	tsTrim := bytes.TrimLeft(tsBytes[:], "\x00")
	enc := base64.RawURLEncoding
	b := make([]byte, 0, 1+enc.EncodedLen(len(body))+1+enc.EncodedLen(len(tsTrim))+1+enc.EncodedLen(sha1.Size))
	if compressed {
		b = append(b, '.')
	}
	b = enc.AppendEncode(b, body)
	b = append(b, '.')
	b = enc.AppendEncode(b, tsTrim)
	key := sha1.New()
	key.Write([]byte(name))
	key.Write([]byte("signer"))
	key.Write([]byte(secret))
	var keySum [sha1.Size]byte
	mac := hmac.New(sha1.New, key.Sum(keySum[:0]))
	mac.Write(b)
	var sum [sha1.Size]byte
	b = append(b, '.')
	b = enc.AppendEncode(b, mac.Sum(sum[:0]))
	return string(b)
}

// appendPythonJSONString appends s (UTF-8) as itsdangerous' compact JSON
// writes a str (json.dumps with ensure_ascii=False): quotes, backslash and
// \b \f \n \r \t escaped short, other controls as lower-case \u00XX, every
// other character as its UTF-8 (invalid bytes as U+FFFD).
func appendPythonJSONString(dst, s []byte) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for len(s) > 0 {
		c := s[0]
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRune(s)
			if r == utf8.RuneError && n == 1 {
				dst = utf8.AppendRune(dst, r)
			} else {
				dst = append(dst, s[:n]...)
			}
			s = s[n:]
			continue
		}
		s = s[1:]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c == '\b':
			dst = append(dst, '\\', 'b')
		case c == '\f':
			dst = append(dst, '\\', 'f')
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c == '\t':
			dst = append(dst, '\\', 't')
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

// rewriteStreamlitCookies removes from h every cookie whose name starts with
// _streamlit_user (the user, the tokens and their chunks) as Streamlit's
// Python cookie parsers would name it, and appends minted (from
// mintStreamlitUser; "" for none). Other cookies keep their bytes; all end up
// in a single Cookie line, because Tornado reads several lines joined with
// commas. h is left alone when there is nothing to remove or add.
func rewriteStreamlitCookies(h http.Header, minted string) {
	lines := h["Cookie"]
	found := false
	for _, line := range lines {
		if strings.Contains(line, streamlitUserCookie) {
			found = true
			break
		}
	}
	if !found && minted == "" {
		return
	}
	size := len(minted)
	for _, line := range lines {
		size += len(line) + 2
	}
	var b strings.Builder
	b.Grow(size)
	for _, line := range lines {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			name, _, _ := strings.Cut(part, "=")
			if strings.HasPrefix(pythonStrip(name), streamlitUserCookie) {
				continue
			}
			if part = strings.Trim(part, " \t"); part == "" {
				continue
			}
			if b.Len() > 0 {
				b.WriteString("; ")
			}
			b.WriteString(part)
		}
	}
	if minted != "" {
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		b.WriteString(minted)
	}
	if b.Len() == 0 {
		delete(h, "Cookie")
		return
	}
	h["Cookie"] = append(lines[:0], b.String())
}

// pythonStrip trims what Python's str.strip() trims from a header that
// Tornado and Starlette decode as Latin-1: a client must not hide a
// _streamlit_user cookie from stauth behind a space Python ignores
// (bytes 0x85 and 0xA0, the ASCII separators).
func pythonStrip(s string) string {
	for s != "" && pythonSpace(s[0]) {
		s = s[1:]
	}
	for s != "" && pythonSpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

// pythonSpace reports whether the Latin-1 character c is white space to
// Python's str.isspace.
func pythonSpace(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\v', '\f', '\r', 0x1c, 0x1d, 0x1e, 0x1f, 0x85, 0xa0:
		return true
	}
	return false
}
