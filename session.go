package stauth

import (
	"bytes"
	"compress/flate"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Cookie purposes. Each gets its own key, so a cookie sealed for one purpose
// never opens as another.
const (
	purposeSession    = "stauth session cookie"
	purposeLogin      = "stauth login transaction cookie"
	purposeLogoutHint = "stauth logout hint cookie"
)

// sealVersion is the first byte of every sealed cookie value.
const sealVersion byte = 1

// Cookie size limits: a browser keeps about 4096 bytes per cookie (name and
// attributes included), and Caddy refuses request headers over 16 KB.
const (
	chunkSize     = 3800
	maxChunks     = 2
	maxReadChunks = 8
)

// loginTTL is how long a login may take, from the login redirect to the callback.
const loginTTL = 10 * time.Minute

// maxPendingLogins is how many login transaction cookies a browser may hold;
// older ones are deleted when a new login starts.
const maxPendingLogins = 4

// sealer encrypts and authenticates cookie values for one purpose. The first
// AEAD uses cookie_secret; the others, cookie_secret_previous, only open.
type sealer struct {
	aeads []cipher.AEAD
	aad   []byte
}

// newSealer derives one AES-256-GCM key per secret for purpose with HKDF-SHA256.
func newSealer(secrets []string, purpose string) (*sealer, error) {
	s := &sealer{aad: append([]byte{sealVersion}, purpose...)}
	for _, secret := range secrets {
		key, err := hkdf.Key(sha256.New, []byte(secret), []byte("stauth"), purpose, 32)
		if err != nil {
			return nil, err
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCMWithRandomNonce(block)
		if err != nil {
			return nil, err
		}
		s.aeads = append(s.aeads, aead)
	}
	return s, nil
}

// seal returns plaintext sealed with the current secret, as cookie-safe text.
func (s *sealer) seal(plaintext []byte) string {
	out := make([]byte, 1, 1+len(plaintext)+s.aeads[0].Overhead())
	out[0] = sealVersion
	out = s.aeads[0].Seal(out, nil, plaintext, s.aad)
	return base64.RawURLEncoding.EncodeToString(out)
}

// open returns the plaintext of a sealed value and whether it was sealed with
// a previous secret (and should be sealed again). ok is false for anything
// that was not sealed by this sealer: tampered, truncated, foreign or empty.
func (s *sealer) open(value string) (plaintext []byte, stale, ok bool) {
	buf := make([]byte, base64.RawURLEncoding.DecodedLen(len(value)))
	n, err := base64.RawURLEncoding.Decode(buf, []byte(value))
	if err != nil || n < 1 || buf[0] != sealVersion {
		return nil, false, false
	}
	sealed := buf[1:n]
	for i, aead := range s.aeads {
		if plain, err := aead.Open(sealed[:0:0], nil, sealed, s.aad); err == nil {
			return plain, i > 0, true
		}
	}
	return nil, false, false
}

// session is a logged-in user, as sealed in the session cookie. Its string
// fields share the memory of one decoded payload.
type session struct {
	provider      string
	expires       int64 // Unix seconds; the session ends then whatever the browser does
	accessExpires int64 // Unix seconds; 0 when unknown
	sub           string
	email         string
	// emailVerified is "", "true" or "false" (the email_verified claim).
	emailVerified string
	// claims is the JSON object of every other claim, deflated when
	// claimsDeflated is set.
	claims         string
	claimsDeflated bool
	idToken        string
	accessToken    string
	refreshToken   string

	decodeOnce sync.Once
	decoded    map[string]any
}

// Session payload format: a format byte, a flags byte, two varints and
// length-prefixed strings, in this order.
const (
	sessionFormat       byte = 1
	flagClaimsDeflated  byte = 1 << 0
	flagEmailVerifiedOK byte = 1 << 1 // email_verified present
	flagEmailVerified   byte = 1 << 2 // and true
)

// encode returns the session's compact binary payload.
func (s *session) encode() []byte {
	flags := byte(0)
	if s.claimsDeflated {
		flags |= flagClaimsDeflated
	}
	if s.emailVerified != "" {
		flags |= flagEmailVerifiedOK
		if s.emailVerified == "true" {
			flags |= flagEmailVerified
		}
	}
	b := []byte{sessionFormat, flags}
	b = binary.AppendVarint(b, s.expires)
	b = binary.AppendVarint(b, s.accessExpires)
	for _, f := range [...]string{s.provider, s.sub, s.email, s.claims, s.idToken, s.accessToken, s.refreshToken} {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	return b
}

// decodeSession parses a session payload; it allocates once, for the text.
func decodeSession(b []byte) (*session, bool) {
	if len(b) < 2 || b[0] != sessionFormat {
		return nil, false
	}
	flags := b[1]
	text := string(b)
	s := &session{claimsDeflated: flags&flagClaimsDeflated != 0}
	if flags&flagEmailVerifiedOK != 0 {
		s.emailVerified = strconv.FormatBool(flags&flagEmailVerified != 0)
	}
	pos := 2
	for _, f := range [...]*int64{&s.expires, &s.accessExpires} {
		v, n := binary.Varint(b[pos:])
		if n <= 0 {
			return nil, false
		}
		*f, pos = v, pos+n
	}
	for _, f := range [...]*string{&s.provider, &s.sub, &s.email, &s.claims, &s.idToken, &s.accessToken, &s.refreshToken} {
		l, n := binary.Uvarint(b[pos:])
		if n <= 0 || l > uint64(len(b)-pos-n) {
			return nil, false
		}
		pos += n
		*f, pos = text[pos:pos+int(l)], pos+int(l)
	}
	return s, pos == len(b)
}

// separatedClaims are kept in their own session fields, outside the claims JSON.
var separatedClaims = []string{"sub", "email", "email_verified"}

// droppedClaims are protocol claims only needed while logging in.
var droppedClaims = []string{"nonce", "at_hash", "c_hash"}

// setClaims stores the claims, deflating them when that saves room.
func (s *session) setClaims(claims map[string]any) error {
	s.sub, _ = claims["sub"].(string)
	s.email, _ = claims["email"].(string)
	switch v := claims["email_verified"].(type) {
	case bool:
		s.emailVerified = strconv.FormatBool(v)
	case string: // some providers send "true"
		if b, err := strconv.ParseBool(v); err == nil {
			s.emailVerified = strconv.FormatBool(b)
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
	s.claims, s.claimsDeflated = string(raw), false
	if len(raw) > 256 {
		if small := deflate(raw); len(small) < len(raw) {
			s.claims, s.claimsDeflated = string(small), true
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

// maxClaimsSize caps an inflated claims object, against a deflate bomb sealed
// with a leaked secret.
const maxClaimsSize = 1 << 20

// allClaims returns every claim of the session, decoded once.
func (s *session) allClaims() map[string]any {
	s.decodeOnce.Do(func() {
		raw := []byte(s.claims)
		if s.claimsDeflated {
			r := flate.NewReader(strings.NewReader(s.claims))
			raw, _ = io.ReadAll(io.LimitReader(r, maxClaimsSize))
		}
		claims := map[string]any{}
		_ = json.Unmarshal(raw, &claims)
		claims["sub"] = s.sub
		if s.email != "" {
			claims["email"] = s.email
		}
		if s.emailVerified != "" {
			claims["email_verified"] = s.emailVerified == "true"
		}
		s.decoded = claims
	})
	return s.decoded
}

// loginTransaction is the state of one login between the redirect to the
// provider and the callback, sealed in its own cookie.
type loginTransaction struct {
	State       string `json:"s"`
	Nonce       string `json:"n"`
	Verifier    string `json:"v"`
	Provider    string `json:"p"`
	Issuer      string `json:"i"`
	RedirectURI string `json:"u"`
	ReturnTo    string `json:"r"`
	Created     int64  `json:"c"`
}

// cookieJar names and writes stauth's cookies. With an https redirect_uri the
// cookies are Secure and their names take the __Host- prefix (__Secure- for
// the logout hint, whose path is the logout path).
type cookieJar struct {
	session     string
	loginPrefix string
	// logoutHint holds the ID token kept for logout at the provider; the
	// browser sends it to logoutPath only, so it costs nothing elsewhere.
	logoutHint string
	logoutPath string
	secure     bool
	maxAge     int
}

func newCookieJar(secure bool, sessionTTL time.Duration, logoutPath string) cookieJar {
	prefix, hintPrefix := "stauth_", "stauth_"
	if secure {
		prefix, hintPrefix = "__Host-stauth_", "__Secure-stauth_"
	}
	return cookieJar{
		session: prefix + "session", loginPrefix: prefix + "login_",
		logoutHint: hintPrefix + "logout", logoutPath: logoutPath,
		secure: secure, maxAge: int(sessionTTL / time.Second),
	}
}

// loginCookieName names the transaction cookie of the login with this state.
func (j cookieJar) loginCookieName(state string) string {
	sum := sha256.Sum256([]byte(state))
	return j.loginPrefix + hex.EncodeToString(sum[:8])
}

// scanCookies calls fn for each cookie of the request, in order, without
// allocating; fn returns false to stop.
func scanCookies(h http.Header, fn func(name, value string) bool) {
	for _, line := range h["Cookie"] {
		for part := range strings.SplitSeq(line, ";") {
			name, value, _ := strings.Cut(strings.TrimSpace(part), "=")
			if len(value) > 1 && value[0] == '"' && value[len(value)-1] == '"' {
				value = value[1 : len(value)-1]
			}
			if name != "" && !fn(name, value) {
				return
			}
		}
	}
}

// cookieValue returns the first value of the named cookie.
func cookieValue(h http.Header, name string) (value string, found bool) {
	scanCookies(h, func(n, v string) bool {
		if n == name {
			value, found = v, true
		}
		return !found
	})
	return value, found
}

// sessionChunk tells which part of the session cookie name is: 0 for the
// whole cookie, 1… for chunks, -1 for another cookie.
func (j cookieJar) sessionChunk(name string) int {
	if !strings.HasPrefix(name, j.session) {
		return -1
	}
	rest := name[len(j.session):]
	if rest == "" {
		return 0
	}
	if len(rest) < 2 || rest[0] != '_' {
		return -1
	}
	n, err := strconv.Atoi(rest[1:])
	if err != nil || n < 1 || n > maxReadChunks {
		return -1
	}
	return n
}

// sessionValue returns the sealed session from the request: the whole
// cookie, or its chunks joined in order.
func (j cookieJar) sessionValue(h http.Header) string {
	var parts [maxReadChunks + 1]string
	scanCookies(h, func(name, value string) bool {
		if i := j.sessionChunk(name); i >= 0 && parts[i] == "" {
			parts[i] = value
		}
		return true
	})
	if parts[0] != "" {
		return parts[0]
	}
	n := 1
	for n <= maxReadChunks && parts[n] != "" {
		n++
	}
	return strings.Join(parts[1:n], "")
}

// setSession writes the sealed session, split into chunks when it is too
// large for one cookie, and deletes the session cookies it does not reuse.
func (j cookieJar) setSession(w http.ResponseWriter, r *http.Request, sealed string) {
	names := []string{j.session}
	if len(sealed) > chunkSize {
		names = names[:0]
		for i := 1; (i-1)*chunkSize < len(sealed); i++ {
			names = append(names, j.session+"_"+strconv.Itoa(i))
		}
	}
	for i, name := range names {
		part := sealed
		if len(names) > 1 {
			part = sealed[i*chunkSize : min((i+1)*chunkSize, len(sealed))]
		}
		j.set(w, name, part, j.maxAge)
	}
	j.deleteSession(w, r, names...)
}

// deleteSession deletes the request's session cookies, except keep.
func (j cookieJar) deleteSession(w http.ResponseWriter, r *http.Request, keep ...string) {
	scanCookies(r.Header, func(name, _ string) bool {
		if j.sessionChunk(name) >= 0 && !containsString(keep, name) {
			j.set(w, name, "", -1)
		}
		return true
	})
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// set writes one cookie for the whole site; maxAge -1 deletes it.
func (j cookieJar) set(w http.ResponseWriter, name, value string, maxAge int) {
	j.setAt(w, "/", name, value, maxAge)
}

// setLogoutHint writes the logout hint cookie; an empty value deletes it.
func (j cookieJar) setLogoutHint(w http.ResponseWriter, value string) {
	maxAge := j.maxAge
	if value == "" {
		maxAge = -1
	}
	j.setAt(w, j.logoutPath, j.logoutHint, value, maxAge)
}

// setAt writes one cookie for path; maxAge -1 deletes it.
func (j cookieJar) setAt(w http.ResponseWriter, path, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     path,
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   j.secure,
		SameSite: http.SameSiteLaxMode,
	})
}

// isOwn tells whether a cookie is one of stauth's.
func (j cookieJar) isOwn(name string) bool {
	return j.sessionChunk(name) >= 0 || strings.HasPrefix(name, j.loginPrefix) || name == j.logoutHint
}

// stripOwn removes stauth's cookies from the request, so the next handler
// never sees them. It allocates only when it has something to remove.
func (j cookieJar) stripOwn(h http.Header) {
	own := false
	scanCookies(h, func(name, _ string) bool {
		own = j.isOwn(name)
		return !own
	})
	if !own {
		return
	}
	var kept []string
	scanCookies(h, func(name, value string) bool {
		if !j.isOwn(name) {
			kept = append(kept, name+"="+value)
		}
		return true
	})
	if len(kept) == 0 {
		h.Del("Cookie")
		return
	}
	h["Cookie"] = []string{strings.Join(kept, "; ")}
}

// errSessionTooLarge means the claims do not fit the cookie budget.
var errSessionTooLarge = errors.New("the session does not fit in the cookies a browser keeps")

// sealSession seals a session within the cookie budget.
func sealSession(s *sealer, sess *session) (string, error) {
	sealed := s.seal(sess.encode())
	if len(sealed) > chunkSize*maxChunks {
		return "", errSessionTooLarge
	}
	return sealed, nil
}

// openSession returns the valid session sealed in value, if any, and whether
// it was sealed with a previous secret.
func openSession(s *sealer, value string, now time.Time) (sess *session, stale bool) {
	if value == "" {
		return nil, false
	}
	plain, stale, ok := s.open(value)
	if !ok {
		return nil, false
	}
	sess, ok = decodeSession(plain)
	if !ok || now.Unix() >= sess.expires {
		return nil, false
	}
	return sess, stale
}

// sealJSON seals v as JSON.
func sealJSON(s *sealer, v any) string {
	raw, _ := json.Marshal(v)
	return s.seal(raw)
}

// openJSON opens a value sealed by sealJSON into v.
func openJSON(s *sealer, value string, v any) bool {
	plain, _, ok := s.open(value)
	return ok && json.Unmarshal(plain, v) == nil
}

// openLogin opens a login transaction cookie that has not expired.
func openLogin(s *sealer, value string, now time.Time) (*loginTransaction, bool) {
	var tx loginTransaction
	if !openJSON(s, value, &tx) || tx.State == "" {
		return nil, false
	}
	age := now.Sub(time.Unix(tx.Created, 0))
	return &tx, age >= -time.Minute && age < loginTTL
}

// idTokenHint is the ID token kept for logout at the provider (its
// id_token_hint) when it is not exposed, with the subject it names.
type idTokenHint struct {
	Sub     string `json:"s"`
	IDToken string `json:"t"`
}
