package stauth

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func mustSealer(t testing.TB, purpose string, secrets ...string) *sealer {
	t.Helper()
	s, err := newSealer(secrets, purpose)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSealerRoundTrip(t *testing.T) {
	s := mustSealer(t, purposeSession, testCookieSecret)
	value := s.seal([]byte("hello"))
	plain, stale, ok := s.open(value)
	if !ok || stale || string(plain) != "hello" {
		t.Fatalf("open(seal(hello)) = %q, stale=%v, ok=%v", plain, stale, ok)
	}
	if s.seal([]byte("hello")) == value {
		t.Fatal("two seals of the same text are equal: the nonce is not random")
	}
	if strings.Contains(value, "hello") || strings.ContainsAny(value, ";, =\"") {
		t.Fatalf("sealed value is readable or not cookie-safe: %q", value)
	}
}

func TestSealerRefuses(t *testing.T) {
	s := mustSealer(t, purposeSession, testCookieSecret)
	value := s.seal([]byte("a session payload"))
	raw, _ := base64.RawURLEncoding.DecodeString(value)
	cases := map[string]string{
		"empty":           "",
		"not base64":      "!!!",
		"truncated":       value[:len(value)-4],
		"only the header": value[:2],
		"other purpose":   mustSealer(t, purposeLogin, testCookieSecret).seal([]byte("a session payload")),
		"other secret":    mustSealer(t, purposeSession, "another-secret-0123456789abcdef").seal([]byte("a session payload")),
		"other version":   base64.RawURLEncoding.EncodeToString(append([]byte{sealVersion + 1}, raw[1:]...)),
		"padded base64":   value + "==",
	}
	for i := range raw { // every single-bit flip
		flipped := append([]byte(nil), raw...)
		flipped[i] ^= 1 << (i % 8)
		cases["bit flip at "+strconv.Itoa(i)] = base64.RawURLEncoding.EncodeToString(flipped)
	}
	for name, v := range cases {
		if plain, _, ok := s.open(v); ok {
			t.Errorf("%s: opened as %q", name, plain)
		}
	}
}

func TestSealerPreviousSecret(t *testing.T) {
	old := mustSealer(t, purposeSession, "the-old-secret-0123456789abcdef")
	rotated := mustSealer(t, purposeSession, testCookieSecret, "the-old-secret-0123456789abcdef")
	plain, stale, ok := rotated.open(old.seal([]byte("x")))
	if !ok || !stale || string(plain) != "x" {
		t.Fatalf("a cookie of the previous secret: %q stale=%v ok=%v, want it opened and marked stale", plain, stale, ok)
	}
	if _, stale, ok := rotated.open(rotated.seal([]byte("x"))); !ok || stale {
		t.Fatalf("a cookie of the current secret: stale=%v ok=%v", stale, ok)
	}
}

func googleClaims() map[string]any {
	return map[string]any{
		"iss": "https://accounts.google.com", "azp": "123.apps.googleusercontent.com", "aud": "123.apps.googleusercontent.com",
		"sub": "110169484474386276334", "email": "jane@example.com", "email_verified": true, "at_hash": "HK6E_P6Dh8Y93mRNtsDB1Q",
		"nonce": "abc", "name": "Jane Doe", "picture": "https://lh3.googleusercontent.com/a/photo", "given_name": "Jane",
		"family_name": "Doe", "iat": 1700000000.0, "exp": 1700003600.0, "hd": "example.com",
	}
}

func TestSessionEncodeDecode(t *testing.T) {
	in := &session{provider: "google", expires: 1800000000, accessExpires: 1700003600, idToken: "id.token.x", accessToken: "access", refreshToken: "refresh"}
	if err := in.setClaims(googleClaims()); err != nil {
		t.Fatal(err)
	}
	out, ok := decodeSession(in.encode())
	if !ok {
		t.Fatal("decode failed")
	}
	if out.provider != "google" || out.expires != 1800000000 || out.accessExpires != 1700003600 || out.sub != "110169484474386276334" ||
		out.email != "jane@example.com" || out.emailVerified != "true" || out.idToken != "id.token.x" || out.accessToken != "access" || out.refreshToken != "refresh" {
		t.Fatalf("decoded session differs: %+v", out)
	}
	claims := out.allClaims()
	want := googleClaims()
	for _, dropped := range droppedClaims {
		delete(want, dropped)
	}
	if !reflect.DeepEqual(claims, want) {
		t.Fatalf("claims after a round trip:\n%v\nwant\n%v", claims, want)
	}
}

func TestSessionLargeClaimsAreDeflated(t *testing.T) {
	claims := googleClaims()
	groups := make([]any, 50)
	for i := range groups {
		groups[i] = "group-" + strconv.Itoa(i) + "-2b1f4a7e-5c3d-4e8f-9a0b-1c2d3e4f5a6b"
	}
	claims["groups"] = groups
	s := &session{provider: "entra", expires: 1800000000}
	if err := s.setClaims(claims); err != nil {
		t.Fatal(err)
	}
	if !s.claimsDeflated {
		t.Fatal("a large claim set was not deflated")
	}
	out, _ := decodeSession(s.encode())
	if got := out.allClaims()["groups"]; !reflect.DeepEqual(got, groups) {
		t.Fatalf("groups after deflate round trip: %v", got)
	}
}

func TestDecodeSessionRefusesMalformed(t *testing.T) {
	good := (&session{provider: "p", sub: "s", expires: 9}).encode()
	cases := map[string][]byte{
		"empty":          nil,
		"wrong format":   append([]byte{sessionFormat + 1}, good[1:]...),
		"truncated":      good[:len(good)-1],
		"trailing bytes": append(append([]byte(nil), good...), 0),
		"huge length":    append(good[:4], 0xff, 0xff, 0xff, 0xff, 0x0f),
	}
	for name, b := range cases {
		if _, ok := decodeSession(b); ok {
			t.Errorf("%s: decoded", name)
		}
	}
}

func TestOpenSessionExpiry(t *testing.T) {
	s := mustSealer(t, purposeSession, testCookieSecret)
	now := time.Unix(1800000000, 0)
	value := s.seal((&session{provider: "p", sub: "s", expires: now.Unix() + 60}).encode())
	if sess, _ := openSession(s, value, now); sess == nil {
		t.Fatal("a live session did not open")
	}
	if sess, _ := openSession(s, value, now.Add(time.Minute)); sess != nil {
		t.Fatal("an expired session opened")
	}
	if sess, _ := openSession(mustSealer(t, purposeLogin, testCookieSecret), value, now); sess != nil {
		t.Fatal("a session cookie opened as a login transaction")
	}
}

func TestLoginTransactionExpiry(t *testing.T) {
	s := mustSealer(t, purposeLogin, testCookieSecret)
	now := time.Unix(1800000000, 0)
	value := sealJSON(s, &loginTransaction{State: "st", Nonce: "n", Created: now.Unix()})
	if tx, ok := openLogin(s, value, now.Add(loginTTL-time.Second)); !ok || tx.State != "st" || tx.Nonce != "n" {
		t.Fatalf("a live login did not open: %+v %v", tx, ok)
	}
	if _, ok := openLogin(s, value, now.Add(loginTTL)); ok {
		t.Fatal("a login older than 10 minutes opened")
	}
	if _, ok := openLogin(mustSealer(t, purposeSession, testCookieSecret), value, now); ok {
		t.Fatal("a login transaction opened as a session")
	}
}

func TestCookieJarNames(t *testing.T) {
	plain, secure := newCookieJar(false, time.Hour, DefaultLogoutPath), newCookieJar(true, time.Hour, DefaultLogoutPath)
	if plain.session != "stauth_session" || secure.session != "__Host-stauth_session" || !strings.HasPrefix(secure.loginCookieName("s"), "__Host-stauth_login_") {
		t.Fatalf("cookie names: %+v %+v", plain, secure)
	}
	rec := httptest.NewRecorder()
	secure.set(rec, secure.session, "v", 3600)
	c := rec.Result().Cookies()[0]
	if !c.Secure || !c.HttpOnly || c.Path != "/" || c.SameSite != http.SameSiteLaxMode || c.Domain != "" || c.MaxAge != 3600 {
		t.Fatalf("cookie attributes: %+v", c)
	}
	if a, b := plain.loginCookieName("state-1"), plain.loginCookieName("state-2"); a == b {
		t.Fatal("two logins share a transaction cookie name")
	}
}

func requestWithCookies(cookies ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	for _, c := range cookies {
		r.Header.Add("Cookie", c)
	}
	return r
}

func TestChunkedSession(t *testing.T) {
	jar := newCookieJar(false, time.Hour, DefaultLogoutPath)
	sealed := strings.Repeat("a", chunkSize) + strings.Repeat("b", chunkSize/2)
	old := requestWithCookies("stauth_session=old; stauth_session_1=x", "stauth_session_2=y; stauth_session_3=z; other=1")
	rec := httptest.NewRecorder()
	jar.setSession(rec, old, sealed)
	set := map[string]*http.Cookie{}
	for _, c := range rec.Result().Cookies() {
		set[c.Name] = c
	}
	if set["stauth_session_1"].Value != sealed[:chunkSize] || set["stauth_session_2"].Value != sealed[chunkSize:] {
		t.Fatalf("chunks not written in order: %v", rec.Header()["Set-Cookie"])
	}
	for _, stale := range []string{"stauth_session", "stauth_session_3"} {
		if c := set[stale]; c == nil || c.MaxAge >= 0 {
			t.Fatalf("stale cookie %s not deleted: %v", stale, rec.Header()["Set-Cookie"])
		}
	}
	if _, touched := set["other"]; touched {
		t.Fatal("a foreign cookie was touched")
	}
	back := requestWithCookies("stauth_session_2="+sealed[chunkSize:], "stauth_session_1="+sealed[:chunkSize])
	if got := jar.sessionValue(back.Header); got != sealed {
		t.Fatalf("chunks joined to %d bytes, want %d", len(got), len(sealed))
	}
	whole := requestWithCookies("stauth_session=whole; stauth_session_1=chunk")
	if got := jar.sessionValue(whole.Header); got != "whole" {
		t.Fatalf("the whole cookie must win over chunks, got %q", got)
	}
	gap := requestWithCookies("stauth_session_1=a; stauth_session_3=c")
	if got := jar.sessionValue(gap.Header); got != "a" {
		t.Fatalf("chunks after a gap must not be joined, got %q", got)
	}
}

func TestStripOwnCookies(t *testing.T) {
	jar := newCookieJar(true, time.Hour, DefaultLogoutPath)
	cases := []struct {
		name    string
		cookies []string
		want    []string
	}{
		{"only ours", []string{"__Host-stauth_session=x; __Host-stauth_login_ab12=y"}, nil},
		{"mixed", []string{"a=1; __Host-stauth_session_1=x", "b=\"2\"; __Host-stauth_session_2=y"}, []string{"a=1; b=2"}},
		{"none of ours", []string{"a=1; stauth_sessionx=2"}, []string{"a=1; stauth_sessionx=2"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := requestWithCookies(c.cookies...)
			jar.stripOwn(r.Header)
			if got := r.Header["Cookie"]; !reflect.DeepEqual(got, c.want) {
				t.Fatalf("Cookie after strip: %q, want %q", got, c.want)
			}
		})
	}
}

func TestSealSessionBudget(t *testing.T) {
	s := mustSealer(t, purposeSession, testCookieSecret)
	if sealed, err := sealSession(s, &session{provider: "p", sub: "s", expires: 9}); err != nil || len(sealed) > chunkSize {
		t.Fatalf("a small session: %d bytes, %v", len(sealed), err)
	}
	big := &session{provider: "p", sub: "s", expires: 9, idToken: strings.Repeat("x", chunkSize*maxChunks)}
	if _, err := sealSession(s, big); err != errSessionTooLarge {
		t.Fatalf("an exposed ID token over the budget: %v, want errSessionTooLarge", err)
	}
}

func TestLogoutHintCookie(t *testing.T) {
	jar := newCookieJar(true, time.Hour, "/auth/logout")
	rec := httptest.NewRecorder()
	jar.setLogoutHint(rec, "sealed")
	jar.setLogoutHint(rec, "")
	set := rec.Result().Cookies()
	if set[0].Name != "__Secure-stauth_logout" || set[0].Path != "/auth/logout" || !set[0].Secure || !set[0].HttpOnly || set[0].MaxAge != 3600 {
		t.Fatalf("logout hint cookie: %+v", set[0])
	}
	if set[1].Path != "/auth/logout" || set[1].MaxAge >= 0 {
		t.Fatalf("logout hint deletion: %+v", set[1])
	}
	if !jar.isOwn("__Secure-stauth_logout") {
		t.Fatal("the logout hint is not stripped before the next handler")
	}
}
