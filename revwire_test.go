package stauth

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stauth/caddy-stauth/internal/hostileop"
)

// TestLogout: after a logout, a copy of the session cookie made
// before it is refused; when the revocation cannot be stored, the logout
// still deletes the cookies and says so.
func TestLogoutRevokesTheSession(t *testing.T) {
	s := newTestSite(t, siteOptions{behaviour: hostileop.Behaviour{NoEndSession: true}})
	b := s.browser(t)
	b.mustLogIn("/auth/login", "/")
	copied := b.cookie("stauth_session")
	if got := s.replayStatus(t, copied); got != http.StatusOK {
		t.Fatalf("the copied cookie before logout: %d", got)
	}
	if resp := b.do(http.MethodPost, "/auth/logout", "Sec-Fetch-Site", "same-origin"); resp.StatusCode != http.StatusOK || !deletes(resp, "stauth_session") {
		t.Fatalf("logout: %s", resp.Status)
	}
	if got := s.replayStatus(t, copied); got != http.StatusUnauthorized {
		t.Fatalf("the copy of a logged-out session: %d, want 401", got)
	}
	b.mustLogIn("/auth/login", "/")
	b.assertLoggedInAs(hostileop.DefaultSubject)

	t.Run("storage-down", func(t *testing.T) {
		s := newTestSite(t, siteOptions{})
		b := s.browser(t)
		b.mustLogIn("/auth/login", "/")
		// A file where the revocations' directory should be: every write
		// under it fails.
		dir := filepath.Join(s.Storage, "stauth")
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dir, []byte("not a directory"), 0o600); err != nil {
			t.Fatal(err)
		}
		resp := b.do(http.MethodPost, "/auth/logout", "Sec-Fetch-Site", "same-origin")
		if resp.StatusCode != http.StatusOK || !deletes(resp, "stauth_session") || !strings.Contains(resp.Body, "could not be recorded") {
			t.Fatalf("logout with storage down: %s, want the signing-out page saying the logout was not recorded and the cookie deleted\n%s", resp.Status, resp.Body)
		}
		token := signLogoutToken(t, hostileop.SharedRSAKey("rsa-1"), logoutClaims(s, hostileop.DefaultSubject))
		if status, body, _ := s.postLogoutToken(t, token); status != http.StatusServiceUnavailable || !strings.Contains(body, "temporarily_unavailable") {
			t.Fatalf("a back-channel logout with storage down: %d %s, want 503 so that the provider sends it again", status, body)
		}
	})
}

// TestPassiveRevoked: outside stauth's matcher, the passive stauth
// shows a revoked session as logged out too.
func TestPassiveRevoked(t *testing.T) {
	s := newTestSite(t, siteOptions{matcher: "/private*", behaviour: hostileop.Behaviour{NoEndSession: true}})
	b := s.browser(t)
	b.mustLogIn("/auth/login?rd=/private", "/private")
	copied := b.cookie("stauth_session")
	outside := func() string {
		return s.browser(t).do(http.MethodGet, "/public", "Cookie", "stauth_session="+copied).Body
	}
	if got := outside(); !strings.Contains(got, "logged_in=true") {
		t.Fatalf("outside the matcher before logout: %s", got)
	}
	b.do(http.MethodPost, "/auth/logout", "Sec-Fetch-Site", "same-origin")
	if got := outside(); !strings.Contains(got, "logged_in=false") || strings.Contains(got, hostileop.DefaultSubject) {
		t.Fatalf("outside the matcher, a revoked session: %s", got)
	}
}
