package stauth

import (
	"cmp"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stauth/caddy-stauth/internal/hostileop"
)

// TestOtherHost checks that a site opened at another name of this machine
// than redirect_uri's says so, naming both hosts and where to go, before
// the login goes to the provider; and that a callback no login matches
// names redirect_uri's host.
func TestOtherHost(t *testing.T) {
	s := newTestSite(t, siteOptions{})
	b := s.browser(t)
	other := fmt.Sprintf("127.0.0.1:%d", s.Port)
	here := fmt.Sprintf("localhost:%d", s.Port)
	resp := b.get("http://" + other + "/auth/login?rd=%2Fx")
	want := fmt.Sprintf(`href="http://%s/auth/login?provider=default&amp;rd=%%2Fx"`, here)
	if resp.StatusCode != http.StatusBadRequest || pageTitle(resp.Body) != "Open this site at "+here ||
		!strings.Contains(resp.Body, "You opened this site at "+other) || !strings.Contains(resp.Body, want) || setsLoginCookie(resp) {
		t.Fatalf("a login at %s: %s %q, want 400 naming both hosts with a link %s\n%s", other, resp.Status, pageTitle(resp.Body), want, resp.Body)
	}
	assertNoTokenRequest(t, s.OP)
	if len(s.OP.Requests(hostileop.Authorize)) != 0 {
		t.Fatal("the login at the other host went to the provider")
	}
	cases := []struct{ name, host, want string }{
		{"at redirect_uri's host", "", "If you opened the site at another address than " + here},
		{"at another host", other, "This sign-in came back at " + other + ", but the site signs you in at " + here},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := b.in(t).get("/oauth2callback?state=unknown&code=x", "Host", cmp.Or(c.host, here))
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(resp.Body, c.want) || !strings.Contains(resp.Body, `href="http://`+here+`/auth/login"`) {
				t.Fatalf("a callback without its login: %s, want 400 with %q\n%s", resp.Status, c.want, resp.Body)
			}
		})
	}
}

// TestNoLoginPageWithPort checks that the page of a callback without its
// login names redirect_uri's host with {port} given the listener's port.
func TestNoLoginPageWithPort(t *testing.T) {
	s := newTestSite(t, siteOptions{redirectURI: "http://localhost:{port}/oauth2callback"})
	resp := s.browser(t).get("/oauth2callback?state=unknown&code=x")
	want := fmt.Sprintf("another address than localhost:%d", s.Port)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(resp.Body, want) {
		t.Fatalf("%s, want 400 with %q\n%s", resp.Status, want, resp.Body)
	}
}
