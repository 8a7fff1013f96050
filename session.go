package stauth

import (
	"bytes"
	"compress/flate"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"
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
// AEAD, keyed from cookie_secret, seals and opens; the others, keyed from
// cookie_secret_previous, only open.
type sealer struct {
	aeads []cipher.AEAD
	aad   []byte
}

// Sizes of the sealed layout: version byte, GCM nonce, ciphertext, GCM tag.
const (
	gcmNonceSize = 12
	gcmTagSize   = 16
)

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
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		s.aeads = append(s.aeads, aead)
	}
	return s, nil
}

// seal returns plaintext sealed with the current secret, as cookie-safe text.
func (s *sealer) seal(plaintext []byte) string {
	out := make([]byte, 1+gcmNonceSize, 1+gcmNonceSize+len(plaintext)+gcmTagSize)
	out[0] = sealVersion
	nonce := out[1:]
	_, _ = rand.Read(nonce) // crypto/rand.Read never fails
	out = s.aeads[0].Seal(out, nonce, plaintext, s.aad)
	return base64.RawURLEncoding.EncodeToString(out)
}

// open returns the plaintext of a sealed value and whether it was sealed with
// a previous secret (and should be sealed again). ok is false for anything
// that was not sealed by this sealer: tampered, truncated, foreign or empty.
// It allocates once: the value is decoded and decrypted in one buffer, which
// the plaintext shares.
func (s *sealer) open(value string) (plaintext []byte, stale, ok bool) {
	size := base64.RawURLEncoding.DecodedLen(len(value))
	if len(s.aeads) > 1 {
		// A failed Open may wipe its output: with several keys, every
		// attempt but the last decrypts into a copy.
		size *= 2
	}
	buf := make([]byte, size)
	n, ok := decodeBase64(buf, value)
	if !ok || n < 1+gcmNonceSize+gcmTagSize || buf[0] != sealVersion {
		return nil, false, false
	}
	nonce, sealed := buf[1:1+gcmNonceSize], buf[1+gcmNonceSize:n]
	for i, aead := range s.aeads {
		out := sealed[:0]
		if i < len(s.aeads)-1 {
			out = buf[n:n]
		}
		if plain, err := aead.Open(out, nonce, sealed, s.aad); err == nil {
			return plain, i > 0, true
		}
	}
	return nil, false, false
}

// decodeBase64 decodes base64url text into dst without first copying it
// into a byte slice: a stack buffer takes it in pieces of a multiple of 4
// characters, which decode on their own.
func decodeBase64(dst []byte, src string) (int, bool) {
	if strings.IndexByte(src, '\n') >= 0 || strings.IndexByte(src, '\r') >= 0 { // which Decode skips: decode it whole
		n, err := base64.RawURLEncoding.Decode(dst, []byte(src))
		return n, err == nil
	}
	var piece [1024]byte
	n := 0
	for len(src) > 0 {
		k := copy(piece[:], src)
		m, err := base64.RawURLEncoding.Decode(dst[n:], piece[:k])
		if err != nil {
			return 0, false
		}
		n, src = n+m, src[k:]
	}
	return n, true
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
	if len(raw) > deflateAbove {
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

// deflateAbove is the claims size from which they are deflated: below it,
// the few bytes saved on every request cost more than inflating them when a
// placeholder or an allow_claim rule reads a claim.
const deflateAbove = 1024

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
func (s *session) allClaims() map[string]any {
	s.decodeOnce.Do(func() {
		raw := []byte(s.claims)
		if s.claimsDeflated {
			raw = inflate(s.claims, maxClaimsSize)
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

// chunkIndex tells which part of the cookie base name is: 0 for the whole
// cookie, 1… for chunks, -1 for another cookie.
func chunkIndex(base, name string) int {
	if !strings.HasPrefix(name, base) {
		return -1
	}
	rest := name[len(base):]
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

// chunkedValue returns the value of cookie base from the request: the whole
// cookie, or its chunks joined in order.
func chunkedValue(h http.Header, base string) string {
	var parts [maxReadChunks + 1]string
	scanCookies(h, func(name, value string) bool {
		if i := chunkIndex(base, name); i >= 0 && parts[i] == "" {
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

// chunkNames names the cookies that hold a value of size bytes: base alone,
// or base_1, base_2… when it is too large for one cookie.
func chunkNames(base string, size int) []string {
	if size <= chunkSize {
		return []string{base}
	}
	var names []string
	for i := 1; (i-1)*chunkSize < size; i++ {
		names = append(names, base+"_"+strconv.Itoa(i))
	}
	return names
}

// writeChunks writes value under names, split in order.
func (j cookieJar) writeChunks(w http.ResponseWriter, path string, names []string, value string, maxAge int) {
	for i, name := range names {
		part := value
		if len(names) > 1 {
			part = value[i*chunkSize : min((i+1)*chunkSize, len(value))]
		}
		j.setAt(w, path, name, part, maxAge)
	}
}

// sessionValue returns the sealed session from the request.
func (j cookieJar) sessionValue(h http.Header) string { return chunkedValue(h, j.session) }

// setSession writes the sealed session, split into chunks when it is too
// large for one cookie, and deletes the session cookies it does not reuse.
func (j cookieJar) setSession(w http.ResponseWriter, r *http.Request, sealed string) {
	names := chunkNames(j.session, len(sealed))
	j.writeChunks(w, "/", names, sealed, j.maxAge)
	j.deleteSession(w, r, names...)
}

// deleteSession deletes the request's session cookies, except keep.
func (j cookieJar) deleteSession(w http.ResponseWriter, r *http.Request, keep ...string) {
	scanCookies(r.Header, func(name, _ string) bool {
		if chunkIndex(j.session, name) >= 0 && !slices.Contains(keep, name) {
			j.set(w, name, "", -1)
		}
		return true
	})
}

// set writes one cookie for the whole site; maxAge -1 deletes it.
func (j cookieJar) set(w http.ResponseWriter, name, value string, maxAge int) {
	j.setAt(w, "/", name, value, maxAge)
}

// setLogoutHint writes the sealed logout hint, chunked like the session;
// an empty value deletes it. The request does not carry it (its path is
// the logout path), so every name it might have is deleted blindly.
func (j cookieJar) setLogoutHint(w http.ResponseWriter, sealed string) {
	var names []string
	if sealed != "" {
		names = chunkNames(j.logoutHint, len(sealed))
		j.writeChunks(w, j.logoutPath, names, sealed, j.maxAge)
	}
	for _, name := range append(chunkNames(j.logoutHint, chunkSize*maxChunks), j.logoutHint) {
		if !slices.Contains(names, name) {
			j.setAt(w, j.logoutPath, name, "", -1)
		}
	}
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
	return chunkIndex(j.session, name) >= 0 || strings.HasPrefix(name, j.loginPrefix) || chunkIndex(j.logoutHint, name) >= 0
}

// stripOwn removes stauth's cookies from the request, so the next handler
// never sees them. It allocates only when it has something to remove, and
// then twice at most.
func (j cookieJar) stripOwn(h http.Header) {
	own, size := false, 0
	scanCookies(h, func(name, value string) bool {
		if j.isOwn(name) {
			own = true
		} else {
			size += len(name) + len(value) + 3
		}
		return true
	})
	if !own {
		return
	}
	if size == 0 {
		h.Del("Cookie")
		return
	}
	var kept strings.Builder
	kept.Grow(size)
	scanCookies(h, func(name, value string) bool {
		if !j.isOwn(name) {
			if kept.Len() > 0 {
				kept.WriteString("; ")
			}
			kept.WriteString(name)
			kept.WriteByte('=')
			kept.WriteString(value)
		}
		return true
	})
	h["Cookie"] = []string{kept.String()}
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
