package stauth

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stauth/caddy-stauth/internal/hostileop"
)

// TestSignedOutPage checks where a logout lands: the signed-out page by
// default, a same-site rd when asked, and never another site; across the
// provider's logout, rd rides in the state it sends back.
func TestSignedOutPage(t *testing.T) {
	t.Run("without-end-session", func(t *testing.T) {
		s := newTestSite(t, siteOptions{behaviour: hostileop.Behaviour{NoEndSession: true}})
		cases := []struct {
			name, method, target, want string // want: a Location, or "" for the signed-out page
		}{
			{"default", http.MethodGet, "/auth/logout", ""},
			{"rd", http.MethodGet, "/auth/logout?rd=%2Fbye%3Fx%3D1", "/bye?x=1"},
			{"rd by POST", http.MethodPost, "/auth/logout?rd=%2Fbye", "/bye"},
			{"rd to another site", http.MethodGet, "/auth/logout?rd=%2F%2Fevil.example", ""},
			{"rd with a scheme", http.MethodGet, "/auth/logout?rd=https%3A%2F%2Fevil.example%2F", ""},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				b := s.browser(t)
				b.mustLogIn("/auth/login", "/")
				resp := b.do(c.method, c.target, append([]string{"Origin", s.URL}, sameOriginNavigation...)...)
				assertLanding(t, resp, c.want)
				b.assertLoggedOut()
			})
		}
		b := s.browser(t)
		b.mustLogIn("/auth/login", "/")
		confirm := b.get("/auth/logout?rd=%2Fbye", "Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "navigate", "Sec-Fetch-Dest", "document")
		if !strings.Contains(confirm.Body, `action="/auth/logout?rd=%2Fbye"`) {
			t.Fatalf("the confirmation page's form does not keep rd:\n%s", confirm.Body)
		}
	})
	t.Run("with-end-session", func(t *testing.T) {
		s := newTestSite(t, siteOptions{})
		b := s.browser(t)
		b.mustLogIn("/auth/login", "/")
		resp := b.get("/auth/logout?rd=%2Fbye", sameOriginNavigation...)
		end := logoutTarget(t, resp.StatusCode, resp.Header.Get("Location"), resp.Body)
		if end.Query().Get("state") != "/bye" || end.Query().Get("post_logout_redirect_uri") != s.Redirect {
			t.Fatalf("the provider's logout URL %s does not carry rd as state back to %s", end, s.Redirect)
		}
		b.assertLoggedOut()
		cases := []struct{ name, callback, want string }{
			{"the provider's return with the state", "/oauth2callback?state=%2Fbye", "/bye"},
			{"the provider's return without state", "/oauth2callback", ""},
			{"a forged state naming another site", "/oauth2callback?state=%2F%2Fevil.example", ""},
			{"a forged state with a backslash", "/oauth2callback?state=%2F%5Cevil.example", ""},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				assertLanding(t, b.in(t).get(c.callback), c.want)
			})
		}
		b.mustLogIn("/auth/login", "/")
		if resp := b.get("/auth/logout", sameOriginNavigation...); strings.Contains(logoutTarget(t, resp.StatusCode, resp.Header.Get("Location"), resp.Body).RawQuery, "state=") {
			t.Fatalf("a logout without rd sends a state: %s", resp.Header.Get("Location"))
		}
	})
}

// assertLanding checks a logout's last answer: a 303 to want, or with want
// "" the signed-out page with a link to sign in again.
func assertLanding(t *testing.T, resp *testResp, want string) {
	t.Helper()
	if want != "" {
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
			t.Fatalf("%s to %q, want 303 to %q\n%s", resp.Status, resp.Header.Get("Location"), want, resp.Body)
		}
		return
	}
	if resp.StatusCode != http.StatusOK || pageTitle(resp.Body) != "You have signed out" || !strings.Contains(resp.Body, `href="/auth/login"`) {
		t.Fatalf("%s %q, want the signed-out page with a link to sign in again\n%s", resp.Status, resp.Header.Get("Location"), resp.Body)
	}
	assertAuthHeaders(t, resp)
}
