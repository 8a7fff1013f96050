package stauth

import (
	"net/http"
	"strings"
	"testing"
)

// TestAllowPreflight: with allow_preflight, a CORS preflight passes
// through logged out, with stauth's cookies stripped even when the client
// sends a session; without it, or for an OPTIONS that is no preflight, the
// gate answers 401 as for any script. The real request is gated.
func TestAllowPreflight(t *testing.T) {
	preflight := []string{"Origin", "https://spa.example", "Access-Control-Request-Method", "PUT", "Accept", "*/*"}
	for _, c := range []struct {
		name    string
		options string
		headers []string
		status  int
	}{
		{"on", "allow_preflight", preflight, http.StatusOK},
		{"off", "", preflight, http.StatusUnauthorized},
		{"on, no request method", "allow_preflight", []string{"Origin", "https://spa.example", "Accept", "*/*"}, http.StatusUnauthorized},
		{"on, no origin", "allow_preflight", []string{"Access-Control-Request-Method", "PUT", "Accept", "*/*"}, http.StatusUnauthorized},
	} {
		t.Run(c.name, func(t *testing.T) {
			site := newTestSite(t, siteOptions{stauth: c.options})
			// A browser sends a preflight without credentials.
			if resp := site.browser(t).do(http.MethodOptions, "/api/items", c.headers...); resp.StatusCode != c.status {
				t.Fatalf("OPTIONS: %s %q, want %d", resp.Status, resp.Body, c.status)
			}
			b := site.browser(t)
			b.mustLogIn("/auth/login", "/")
			if c.status == http.StatusOK {
				// A client that sends its cookies anyway is not identified.
				resp := b.do(http.MethodOptions, "/api/items", c.headers...)
				if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Body, "logged_in=false") || !strings.HasSuffix(resp.Body, "cookie=[]") {
					t.Errorf("a preflight with cookies reached the upstream logged in or with stauth's cookies: %s %q", resp.Status, resp.Body)
				}
			}
			if resp := b.do(http.MethodPut, "/api/items", "Origin", "https://spa.example"); resp.StatusCode != http.StatusOK || !strings.Contains(resp.Body, "logged_in=true") {
				t.Errorf("the real request after the preflight: %s %q, want the logged-in user", resp.Status, resp.Body)
			}
		})
	}
}
