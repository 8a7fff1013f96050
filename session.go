package stauth

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/oauth2"
)

func expiryUnix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// session is a logged-in user, as sealed in the session cookie. Its string
// fields share the memory of one decoded payload.
type session struct {
	provider string
	// binding identifies the provider's configuration that made the
	// session (see provider.binding): a session opens only where the
	// provider of that name is still the same one.
	binding string
	// id is the session's own random 16 bytes, by which a logout revokes
	// it; sid is the provider's session id (the ID token's sid), by which
	// a back-channel logout does.
	id            string
	sid           string
	issued        int64 // Unix seconds; the session ends session_ttl after it, even when session_ttl is lowered
	lastUsed      int64 // Unix seconds; when a request last renewed the cookie (idle_timeout)
	expires       int64 // Unix seconds; the session ends then whatever the browser does
	accessExpires int64 // Unix seconds; 0 when unknown
	sub           string
	email         string
	// emailVerified is "", "true" or "false" (the email_verified claim).
	emailVerified string
	// claims is the table of every other claim (see claimtable.go),
	// deflated when claimsDeflated is set.
	claims         string
	claimsDeflated bool
	idToken        string
	accessToken    string
	refreshToken   string

	decodeOnce sync.Once
	decoded    map[string]any
	// inflated is the claims table inflated, once, when it is deflated.
	inflateOnce sync.Once
	inflated    string
}

// Session payload format: a format byte, a flags byte, four varints and
// length-prefixed strings, in this order.
const (
	sessionFormat       byte = 3
	flagClaimsDeflated  byte = 1 << 0
	flagEmailVerifiedOK byte = 1 << 1 // email_verified present
	flagEmailVerified   byte = 1 << 2 // and true
)

// encode returns the session's compact binary payload.
func (sess *session) encode() []byte {
	flags := byte(0)
	if sess.claimsDeflated {
		flags |= flagClaimsDeflated
	}
	if sess.emailVerified != "" {
		flags |= flagEmailVerifiedOK
		if sess.emailVerified == "true" {
			flags |= flagEmailVerified
		}
	}
	b := []byte{sessionFormat, flags}
	b = binary.AppendVarint(b, sess.issued)
	b = binary.AppendVarint(b, sess.expires)
	b = binary.AppendVarint(b, sess.accessExpires)
	b = binary.AppendVarint(b, sess.lastUsed)
	for _, f := range [...]string{sess.provider, sess.binding, sess.id, sess.sid, sess.sub, sess.email, sess.claims, sess.idToken, sess.accessToken, sess.refreshToken} {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	return b
}

// decodeSession parses a session payload without copying it: the session's
// strings share b, which the caller hands over and never changes again.
func decodeSession(b []byte) (*session, bool) {
	if len(b) < 2 || b[0] != sessionFormat {
		return nil, false
	}
	flags := b[1]
	// The session's strings share b, which no one writes once it is decoded
	// (the caller hands it over), as strings.Builder shares its buffer.
	text := unsafe.String(unsafe.SliceData(b), len(b))
	sess := &session{claimsDeflated: flags&flagClaimsDeflated != 0}
	if flags&flagEmailVerifiedOK != 0 {
		sess.emailVerified = strconv.FormatBool(flags&flagEmailVerified != 0)
	}
	pos := 2
	for _, f := range [...]*int64{&sess.issued, &sess.expires, &sess.accessExpires, &sess.lastUsed} {
		v, n := binary.Varint(b[pos:])
		if n <= 0 {
			return nil, false
		}
		*f, pos = v, pos+n
	}
	for _, f := range [...]*string{&sess.provider, &sess.binding, &sess.id, &sess.sid, &sess.sub, &sess.email, &sess.claims, &sess.idToken, &sess.accessToken, &sess.refreshToken} {
		l, n := binary.Uvarint(b[pos:])
		if n <= 0 || l > uint64(len(b)-pos-n) {
			return nil, false
		}
		pos += n
		*f, pos = text[pos:pos+int(l)], pos+int(l)
	}
	return sess, pos == len(b)
}

// sessionIDSize is the length of a session's random id.
const sessionIDSize = 16

// separatedClaims are kept in their own session fields, outside the claims JSON.
var separatedClaims = []string{"sub", "email", "email_verified"}

// droppedClaims are protocol claims only needed while logging in.
var droppedClaims = []string{"nonce", "at_hash", "c_hash"}

// setClaims stores the claims in a table, deflated when that saves enough
// (see deflateAbove). They are first made what a JSON round trip makes them, so
// that the session reads back the claims as it always did.
func (sess *session) setClaims(claims map[string]any) error {
	sess.sub, _ = claims["sub"].(string)
	sess.email, _ = claims["email"].(string)
	switch v := claims["email_verified"].(type) {
	case bool:
		sess.emailVerified = strconv.FormatBool(v)
	case string: // some providers send "true"
		if b, err := strconv.ParseBool(v); err == nil {
			sess.emailVerified = strconv.FormatBool(b)
		}
	}
	rest := make(map[string]any, len(claims))
	for k, v := range claims {
		rest[k] = v
	}
	for _, k := range append(separatedClaims, droppedClaims...) {
		delete(rest, k)
	}
	raw, err := json.Marshal(rest)
	if err != nil {
		return err
	}
	clear(rest)
	if err := json.Unmarshal(raw, &rest); err != nil {
		return err
	}
	table := appendClaimTable(nil, rest)
	sess.claims, sess.claimsDeflated = string(table), false
	if len(table) > deflateAbove {
		if small := deflate(table); len(small) < len(table)*3/4 || (len(table) > deflateAnyAbove && len(small) < len(table)) {
			sess.claims, sess.claimsDeflated = string(small), true
		}
	}
	return nil
}

func deflate(b []byte) []byte {
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	_, _ = w.Write(b)
	_ = w.Close()
	return buf.Bytes()
}

// deflateAbove is the claims table size from which it is deflated when that
// saves a quarter of it: below it, or for less, the bytes saved on every
// request cost more than inflating them when a placeholder or an
// allow_claim rule reads a claim (a table of GUIDs, as Entra's groups, saves
// little). deflateAnyAbove is the size from which any saving counts: such a
// table is about a cookie's worth, and the session's budget comes first.
const (
	deflateAbove    = 1024
	deflateAnyAbove = 4096
)

// maxClaimsSize caps an inflated claims object, against a deflate bomb sealed
// with a leaked secret.
const maxClaimsSize = 1 << 20

// inflaters keeps flate decompressors for reuse: each holds about 40 KB of
// tables, which a request that reads a claim would otherwise allocate.
var inflaters sync.Pool

// inflate returns up to limit bytes of deflated data (what was read before
// an error, if any).
func inflate(deflated string, limit int64) []byte {
	src := strings.NewReader(deflated)
	r, _ := inflaters.Get().(io.ReadCloser)
	if r == nil || r.(flate.Resetter).Reset(src, nil) != nil {
		r = flate.NewReader(src)
	}
	var out bytes.Buffer
	out.Grow(4 * len(deflated))
	_, _ = out.ReadFrom(io.LimitReader(r, limit))
	inflaters.Put(r)
	return out.Bytes()
}

// allClaims returns every claim of the session, decoded once.
func (sess *session) allClaims() map[string]any {
	sess.decodeOnce.Do(func() {
		claims := map[string]any{}
		eachClaim(sess.claimTable(), func(name string, v claimRef) bool { claims[name] = v.value(); return true })
		claims["sub"] = sess.sub
		if sess.email != "" {
			claims["email"] = sess.email
		}
		if sess.emailVerified != "" {
			claims["email_verified"] = sess.emailVerified == "true"
		}
		sess.decoded = claims
	})
	return sess.decoded
}

// renew takes the tokens of a refresh: the new access token and its expiry,
// the rotated refresh token, and a new ID token when the session keeps one.
func (sess *session) renew(token *oauth2.Token) {
	sess.accessToken, sess.accessExpires = token.AccessToken, expiryUnix(token.Expiry)
	if token.RefreshToken != "" {
		sess.refreshToken = token.RefreshToken
	}
	if raw, _ := token.Extra("id_token").(string); raw != "" && sess.idToken != "" {
		sess.idToken = raw
	}
}
