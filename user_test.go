package stauth

import (
	"fmt"
	"testing"
	"time"
)

func TestClaimText(t *testing.T) {
	cases := []struct {
		claim any
		want  string
	}{
		{nil, ""},
		{"x", "x"},
		{true, "true"},
		{float64(1700000000), "1700000000"},
		{1.5, "1.5"},
		{[]any{"a", "b", 3.0}, "a,b,3"},
		{map[string]any{"country": "NL"}, `{"country":"NL"}`},
		{[]any{map[string]any{"k": "v"}}, `{"k":"v"}`},
	}
	for _, c := range cases {
		if got := claimText(c.claim); got != c.want {
			t.Errorf("claimText(%v) = %q, want %q", c.claim, got, c.want)
		}
	}
}

func TestPlaceholders(t *testing.T) {
	s := &Stauth{secrets: &secrets{exposeAccess: true}}
	sess := &session{provider: "google", idToken: "kept-for-logout", accessToken: "at"}
	if err := sess.setClaims(googleClaims()); err != nil {
		t.Fatal(err)
	}
	resolve := s.placeholders(sess)
	cases := map[string]string{
		"http.auth.user.id":             "110169484474386276334",
		"http.auth.user.is_logged_in":   "true",
		"http.auth.user.provider":       "google",
		"http.auth.user.email":          "jane@example.com",
		"http.auth.user.email_verified": "true",
		"http.auth.user.name":           "Jane Doe",
		"http.auth.user.hd":             "example.com",
		"http.auth.user.tokens.access":  "at",
		"http.auth.user.tokens.id":      "",
		"http.auth.user.nonce":          "",
		"http.auth.user.no_such_claim":  "",
	}
	for key, want := range cases {
		got, ok := resolve(key)
		if !ok || got != want {
			t.Errorf("%s = %v (known %v), want %q", key, got, ok, want)
		}
	}
	if _, ok := resolve("http.request.uri"); ok {
		t.Error("the session resolves placeholders outside http.auth.user")
	}
}

func TestLoggedOutPlaceholders(t *testing.T) {
	for key, want := range map[string]string{"http.auth.user.is_logged_in": "false", "http.auth.user.id": "", "http.auth.user.email": "", "http.auth.user.tokens.id": ""} {
		if got, ok := loggedOutPlaceholders(key); !ok || got != want {
			t.Errorf("%s = %v (known %v), want %q", key, got, ok, want)
		}
	}
	if _, ok := loggedOutPlaceholders("http.vars.x"); ok {
		t.Error("logged out, placeholders outside http.auth.user resolve")
	}
}

// TestSessionExpires checks that the user JSON and the placeholder tell when
// the session ends (session_ttl after the login), not the ID token's exp.
func TestSessionExpires(t *testing.T) {
	site := newTestSite(t, siteOptions{stauth: "session_ttl 12h", body: "expires={http.auth.user.session_expires}"})
	b := site.browser(t)
	before := time.Now().Add(12 * time.Hour).Unix()
	b.mustLogIn("/auth/login", "/")
	after := time.Now().Add(12 * time.Hour).Unix()
	expires, ok := b.user()["session_expires"].(float64)
	if !ok || int64(expires) < before || int64(expires) > after {
		t.Fatalf("session_expires %v, want between %d and %d", b.user()["session_expires"], before, after)
	}
	if page := b.get("/").Body; page != fmt.Sprintf("expires=%d", int64(expires)) {
		t.Fatalf("the placeholder gives %q, want expires=%d", page, int64(expires))
	}
}

// TestIdleExpires: with idle_timeout, the user JSON and the placeholder say
// when the session ends unless used before; without, neither does.
func TestIdleExpires(t *testing.T) {
	for _, c := range []struct {
		stauth string
		idle   time.Duration
	}{{"idle_timeout 1h", time.Hour}, {"", 0}} {
		site := newTestSite(t, siteOptions{stauth: c.stauth, body: "idle=[{http.auth.user.idle_expires}]"})
		b := site.browser(t)
		b.mustLogIn("/auth/login", "/")
		got, has := b.user()["idle_expires"].(float64)
		page := b.get("/").Body
		if c.idle == 0 {
			if has || page != "idle=[]" {
				t.Fatalf("without idle_timeout: idle_expires %v, page %q", got, page)
			}
			continue
		}
		want := time.Now().Add(c.idle).Unix()
		if !has || int64(got) > want || int64(got) < want-60 || page != fmt.Sprintf("idle=[%d]", int64(got)) {
			t.Fatalf("with idle_timeout 1h: idle_expires %v (want about %d), page %q", got, want, page)
		}
	}
}
