package stauth

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestIsDeliberateLogout: a GET logs out only as a same-origin or typed
// top-level navigation, a POST only from this site.
func TestIsDeliberateLogout(t *testing.T) {
	for _, c := range []struct {
		name    string
		method  string
		headers map[string]string
		want    bool
	}{
		{"link on this site", "GET", map[string]string{"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}, true},
		{"typed", "GET", map[string]string{"Sec-Fetch-Site": "none", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}, true},
		{"image", "GET", map[string]string{"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "image"}, false},
		{"frame", "GET", map[string]string{"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "iframe"}, false},
		{"another site's link", "GET", map[string]string{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}, false},
		{"no fetch metadata", "GET", nil, false},
		{"form on this site", "POST", map[string]string{"Sec-Fetch-Site": "same-origin"}, true},
		{"form without fetch metadata, same Origin", "POST", map[string]string{"Origin": "http://example.com"}, true},
		{"form on another site", "POST", map[string]string{"Sec-Fetch-Site": "cross-site"}, false},
		{"form without fetch metadata, other Origin", "POST", map[string]string{"Origin": "http://evil.example"}, false},
		{"form with Origin null", "POST", map[string]string{"Origin": "null"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(c.method, "http://example.com/auth/logout", nil)
			for k, v := range c.headers {
				r.Header.Set(k, v)
			}
			if got := isDeliberateLogout(r); got != c.want {
				t.Fatalf("isDeliberateLogout = %v, want %v", got, c.want)
			}
		})
	}
}

// TestLogoutPageCarriesTheIDToken: logout with an ID token hint answers a
// page that refreshes to the provider, never a Location header.
func TestLogoutPageCarriesTheIDToken(t *testing.T) {
	rec := httptest.NewRecorder()
	target := "https://op.example/logout?id_token_hint=a.b.c&client_id=x"
	if err := writePage(rec, http.StatusOK, page{Title: "Signing you out…", Refresh: target}); err != nil {
		t.Fatal(err)
	}
	got := logoutTarget(t, rec.Code, rec.Header().Get("Location"), rec.Body.String())
	if got.String() != target || rec.Header().Get("Location") != "" {
		t.Fatalf("refresh to %q (Location %q), want %q", got, rec.Header().Get("Location"), target)
	}
}
