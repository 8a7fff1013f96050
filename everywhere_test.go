package stauth

import (
	"net/http"
	"testing"

	"github.com/stauth/caddy-stauth/internal/hostileop"
)

// TestLogoutEverywhere: a same-origin POST to the user endpoint ends
// every session of the user; a cross-site one is refused.
func TestLogoutEverywhere(t *testing.T) {
	s := newTestSite(t, siteOptions{behaviour: hostileop.Behaviour{NoEndSession: true}})
	laptop, phone := s.browser(t), s.browser(t)
	laptop.mustLogIn("/auth/login", "/")
	phone.mustLogIn("/auth/login", "/")
	if resp := laptop.do(http.MethodPost, "/auth/user", "Sec-Fetch-Site", "cross-site"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a cross-site POST: %s", resp.Status)
	}
	phone.assertLoggedInAs(hostileop.DefaultSubject)
	resp := laptop.do(http.MethodPost, "/auth/user", "Sec-Fetch-Site", "same-origin")
	if resp.StatusCode != http.StatusOK || !deletes(resp, "stauth_session") {
		t.Fatalf("log out everywhere: %s", resp.Status)
	}
	laptop.assertLoggedOut()
	phone.assertLoggedOut()
}
