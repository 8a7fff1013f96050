package stauth

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestSafeReturnTo(t *testing.T) {
	cases := map[string]string{
		"":                        "/",
		"/":                       "/",
		"/page?q=1&r=2":           "/page?q=1&r=2",
		"/a/b%2F%2Fc":             "/a/b%2F%2Fc",
		"/%2F%2Fevil.example":     "/%2F%2Fevil.example",
		"//evil.example":          "/",
		"///evil.example":         "/",
		"/\\evil.example":         "/",
		"/a\\b":                   "/",
		"https://evil.example/":   "/",
		"javascript:alert(1)":     "/",
		"evil.example":            "/",
		"/a\r\nSet-Cookie: x=1":   "/",
		"/a\tb":                   "/",
		"/a b":                    "/",
		"/caf\u00e9":              "/",
		"/a\x00":                  "/",
		"\\\\evil.example":        "/",
		"/.//evil.example":        "/.//evil.example",
		"/x#fragment":             "/x#fragment",
		"/path?next=//evil.com":   "/path?next=//evil.com",
		"/%0d%0aSet-Cookie:x=1":   "/%0d%0aSet-Cookie:x=1",
		" /leading-space":         "/",
		"/@evil.example":          "/@evil.example",
		"/user:pass@evil.example": "/user:pass@evil.example",
	}
	for rd, want := range cases {
		if got := safeReturnTo(rd); got != want {
			t.Errorf("safeReturnTo(%q) = %q, want %q", rd, got, want)
		}
	}
}

func TestIsNavigation(t *testing.T) {
	cases := []struct {
		method, accept, mode string
		want                 bool
	}{
		{http.MethodGet, "text/html,application/xhtml+xml", "", true},
		{http.MethodHead, "text/html", "", true},
		{http.MethodGet, "", "navigate", true},
		{http.MethodGet, "*/*", "", false},
		{http.MethodGet, "application/json", "cors", false},
		{http.MethodPost, "text/html", "navigate", false},
	}
	for _, c := range cases {
		r := httptest.NewRequest(c.method, "/", nil)
		r.Header.Set("Accept", c.accept)
		r.Header.Set("Sec-Fetch-Mode", c.mode)
		if got := isNavigation(r); got != c.want {
			t.Errorf("%s Accept=%q Sec-Fetch-Mode=%q: navigation=%v, want %v", c.method, c.accept, c.mode, got, c.want)
		}
	}
}

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
