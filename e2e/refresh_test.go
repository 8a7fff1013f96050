package e2e

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stauth/caddy-stauth/e2e/devop"
	"github.com/stauth/caddy-stauth/internal/testcaddy"
)

var accessTokenOnPage = regexp.MustCompile(`access=\[([^\]]+)\]`)

// TestRefresh exposes a short-lived access token: each request near its
// expiry refreshes it, re-sealing the session with the rotated refresh token;
// when the provider no longer knows the refresh token, the user logs in again.
func TestRefresh(t *testing.T) {
	port, opPort := testcaddy.FreePort(t), testcaddy.FreePort(t)
	opAddr := fmt.Sprintf("localhost:%d", opPort)
	// 30 s is inside stauth's refresh margin (1 minute), so every request refreshes.
	op := startProvider(t, port, devop.Options{Addr: opAddr, AccessTokenLifetime: 30 * time.Second})
	secrets := writeSecrets(t, port, op.MetadataURL, `expose_tokens = "access"
client_kwargs = { scope = "openid profile email offline_access" }`)
	loadSitePage(t, port, secrets, "", "access=[{http.auth.user.tokens.access}]")
	s := &site{URL: fmt.Sprintf("http://localhost:%d", port)}
	client := browser(t)

	seen := map[string]bool{accessToken(t, s.logIn(t, client, "/")): true}
	for range 3 { // three refreshes in a row work only if each re-sealed the rotated refresh token
		before := map[string]string{}
		for _, c := range s.sessionCookies(t, client) {
			before[c.Name] = c.Value
		}
		resp, body := fetch(t, client, s.URL+"/", "text/html")
		token := accessToken(t, body)
		if resp.StatusCode != http.StatusOK || seen[token] {
			t.Fatalf("request near expiry: %s with access token %q (seen before: %v); want a fresh token", resp.Status, token, seen[token])
		}
		seen[token] = true
		if !resealsSession(resp, before) {
			t.Fatalf("the refreshed session was not sealed again: Set-Cookie %q, session cookies before %q", resp.Header["Set-Cookie"], before)
		}
	}

	// A new provider process has never issued the refresh token: invalid_grant.
	op.Close()
	startProvider(t, port, devop.Options{Addr: opAddr, AccessTokenLifetime: 30 * time.Second})
	resp, _ := fetch(t, client, s.URL+"/page", "text/html")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/auth/login?rd=%2Fpage" {
		t.Fatalf("after a refused refresh: %s to %q, want 303 to the login", resp.Status, resp.Header.Get("Location"))
	}
	if len(s.sessionCookies(t, client)) != 0 {
		t.Fatal("the session survived a refused refresh")
	}
}

func accessToken(t *testing.T, body string) string {
	t.Helper()
	m := accessTokenOnPage.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no access token on the page: %q", body)
	}
	return m[1]
}

// resealsSession tells whether resp sets (not deletes) a stauth session
// cookie to a value other than the one the browser held before.
func resealsSession(resp *http.Response, before map[string]string) bool {
	for _, c := range resp.Cookies() {
		if strings.Contains(c.Name, "stauth_session") && c.MaxAge >= 0 && c.Value != "" && c.Value != before[c.Name] {
			return true
		}
	}
	return false
}
