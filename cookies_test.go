package stauth

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestOpenSessionExpiry(t *testing.T) {
	jar := mustJar(t, false, testCookieSecret)
	now := time.Unix(1800000000, 0)
	value := jar.sessions.seal((&session{provider: "p", sub: "s", issued: now.Unix(), expires: now.Unix() + 60}).encode())
	if sess, _ := jar.openSession(value, now); sess == nil {
		t.Fatal("a live session did not open")
	}
	if sess, _ := jar.openSession(value, now.Add(time.Minute)); sess != nil {
		t.Fatal("an expired session opened")
	}
	if _, _, ok := jar.logins.open(value); ok {
		t.Fatal("a session cookie opened as a login transaction")
	}
}

func TestLoginTransactionExpiry(t *testing.T) {
	jar := mustJar(t, false, testCookieSecret)
	now := time.Unix(1800000000, 0)
	value := sealJSON(jar.logins, &loginTransaction{State: "st", Nonce: "n", Created: now.Unix()})
	if tx, ok := jar.openLogin(value, now.Add(loginTTL-time.Second)); !ok || tx.State != "st" || tx.Nonce != "n" {
		t.Fatalf("a live login did not open: %+v %v", tx, ok)
	}
	if _, ok := jar.openLogin(value, now.Add(loginTTL)); ok {
		t.Fatal("a login older than 10 minutes opened")
	}
	if sess, _ := jar.openSession(value, now); sess != nil {
		t.Fatal("a login transaction opened as a session")
	}
}

func TestCookieJarNames(t *testing.T) {
	plain, secure := mustJar(t, false, testCookieSecret), mustJar(t, true, testCookieSecret)
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
	jar := mustJar(t, false, testCookieSecret)
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
	if got := chunkedValue(back.Header, jar.session); got != sealed {
		t.Fatalf("chunks joined to %d bytes, want %d", len(got), len(sealed))
	}
	whole := requestWithCookies("stauth_session=whole; stauth_session_1=chunk")
	if got := chunkedValue(whole.Header, jar.session); got != "whole" {
		t.Fatalf("the whole cookie must win over chunks, got %q", got)
	}
	gap := requestWithCookies("stauth_session_1=a; stauth_session_3=c")
	if got := chunkedValue(gap.Header, jar.session); got != "a" {
		t.Fatalf("chunks after a gap must not be joined, got %q", got)
	}
}

func TestStripOwnCookies(t *testing.T) {
	jar := mustJar(t, true, testCookieSecret)
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
	jar := mustJar(t, false, testCookieSecret)
	if sealed, err := jar.sealSession(&session{provider: "p", sub: "s", expires: 9}); err != nil || len(sealed) > chunkSize {
		t.Fatalf("a small session: %d bytes, %v", len(sealed), err)
	}
	big := &session{provider: "p", sub: "s", expires: 9, idToken: strings.Repeat("x", chunkSize*maxChunks)}
	if _, err := jar.sealSession(big); err != errSessionTooLarge {
		t.Fatalf("an exposed ID token over the budget: %v, want errSessionTooLarge", err)
	}
}

func TestLogoutHintCookie(t *testing.T) {
	jar := mustJar(t, true, testCookieSecret)
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

// fuzzNow is the clock of the session fuzz target.
var fuzzNow = time.Unix(1800000000, 0)

// mustJar returns a cookie jar sealing with secrets, like the site's.
func mustJar(t testing.TB, secure bool, secrets ...string) *cookieJar {
	t.Helper()
	jar, err := newCookieJar(jarConfig{secrets: secrets, site: "http://localhost:8080", secure: secure, ttl: time.Hour, logoutPath: DefaultLogoutPath})
	if err != nil {
		t.Fatal(err)
	}
	return jar
}

// FuzzOpenSession feeds arbitrary cookie values to openSession and arbitrary
// payloads, sealed with the key, to decodeSession and the claims decoder. It
// must never panic, and never accept a value that was not sealed by the key.
func FuzzOpenSession(f *testing.F) {
	jar := mustJar(f, false, "fuzz-cookie-secret-0123456789abcdef")
	sealer := jar.sessions
	// other seals the fuzzer's payloads, so that sealer only ever sealed
	// payload.
	other := mustJar(f, false, "fuzz-other-secret-0123456789abcdef")
	live := &session{provider: "default", sub: "alice", email: "alice@example.com", emailVerified: "true", expires: fuzzNow.Unix() + 3600}
	if err := live.setClaims(map[string]any{"sub": "alice", "name": "Alice", "groups": []any{strings.Repeat("g", 300)}}); err != nil {
		f.Fatal(err)
	}
	payload := live.encode()
	// Seeds: sealed values of a real payload (the only values that may
	// open), damaged ones, and raw payloads.
	sealed := sealer.seal(payload)
	f.Add(sealed, payload)
	f.Add(sealed[:len(sealed)-1], payload[:len(payload)-1])
	f.Add(sealed+"A", append([]byte{sessionFormat, 0xff}, payload[2:]...))
	f.Add("", []byte{})
	f.Add("AQ", []byte{sessionFormat, flagClaimsDeflated, 0, 0, 0, 0, 0, 5, 'x', 'x', 'x', 'x', 'x', 0, 0, 0})
	f.Add(base64.RawURLEncoding.EncodeToString([]byte{sealVersion}), []byte{sessionFormat})

	f.Fuzz(func(t *testing.T, value string, plain []byte) {
		// 1. An arbitrary cookie value opens only if it is one of ours.
		// (The seeds are sealed in another process when fuzzing, each with
		// its own nonce: what is known is the plaintext the key sealed.)
		// (Values sealed by earlier versions stay in the fuzz cache: compare
		// what they mean, not their encoding.)
		if sess, _ := jar.openSession(value, fuzzNow); sess != nil && (sess.sub != live.sub || !reflect.DeepEqual(sess.allClaims(), live.allClaims())) {
			t.Fatalf("openSession accepted %q, which the key did not seal", value)
		}
		if p, _, ok := sealer.open(value); ok {
			if d, ok := decodeSession(p); !ok || d.sub != live.sub || d.provider != live.provider {
				t.Fatalf("open accepted %q as %q, which the key did not seal", value, p)
			}
		}
		// 2. Any payload sealed with the key decodes without panicking, and
		// the claims decoder and placeholders cope with it.
		sess, _ := other.openSession(other.sessions.seal(plain), fuzzNow)
		if d, ok := decodeSession(plain); ok {
			if again, ok := decodeSession(d.encode()); !ok || again.sub != d.sub || again.provider != d.provider || again.claims != d.claims {
				t.Fatalf("a decoded session does not survive encode/decode: %q", plain)
			}
		}
		if sess == nil {
			return
		}
		claims := sess.allClaims()
		if claims["sub"] != sess.sub {
			t.Fatalf("claims sub %v, session sub %q", claims["sub"], sess.sub)
		}
		s := &Stauth{secrets: &secrets{}}
		for _, name := range []string{"id", "email", "groups", "name", "is_logged_in", "tokens.id"} {
			_ = s.user(sess).text(name)
		}
	})
}
