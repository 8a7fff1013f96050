package stauth

// Provider faults (DESIGN: "Provider"; "Precise rules"): a provider that is
// down, hangs, answers 5xx or floods stauth with a huge body gets a 5xx page
// (502/503/504), never a session and never a hung or crashed Caddy; a
// provider that comes back is used without a restart.

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stauth/caddy-stauth/internal/hostileop"
	"github.com/stauth/caddy-stauth/internal/testcaddy"
)

// TestDiscoveryDownAtStart: Caddy starts while the provider is down; a
// login shows the 503 page; once the provider is up the next login works,
// without a restart.
func TestDiscoveryDownAtStart(t *testing.T) {
	t.Run("DESIGN-provider/discovery-down-at-start", func(t *testing.T) {
		addr := "127.0.0.1:" + strconv.Itoa(testcaddy.FreePort(t))
		s := newTestSite(t, siteOptions{metadataURL: hostileop.MetadataURLFor(addr)})
		b := s.browser(t)
		resp := b.get("/auth/login?rd=/private")
		b.assertRefused(resp, http.StatusServiceUnavailable, http.StatusServiceUnavailable)
		if !strings.Contains(resp.Body, `href="/auth/login?`) {
			t.Errorf("the 503 page offers no retry link: %s", resp.Body)
		}
		s.OP = hostileop.New(t, hostileop.Config{Addr: addr})
		b.mustLogIn("/auth/login?rd=/private", "/private")
		b.assertLoggedInAs(hostileop.DefaultSubject)
	})
	t.Run("DESIGN-provider/discovery-500-then-back", func(t *testing.T) {
		s := newTestSite(t, siteOptions{behaviour: hostileop.Behaviour{Faults: map[hostileop.Endpoint]hostileop.Fault{hostileop.Discovery: {Status: 500}}}})
		b := s.browser(t)
		b.assertRefused(b.get("/auth/login"), http.StatusServiceUnavailable, http.StatusServiceUnavailable)
		s.OP.Set(func(beh *hostileop.Behaviour) { beh.Faults = nil })
		b.mustLogIn("/auth/login?rd=/private", "/private")
		b.assertLoggedInAs(hostileop.DefaultSubject)
	})
}

// TestProviderFaults: each endpoint fails in turn during a login.
func TestProviderFaults(t *testing.T) {
	const huge = 2 << 20 // twice stauth's 1 MiB cap
	cases := []struct {
		name   string
		ep     hostileop.Endpoint
		fault  hostileop.Fault
		beh    func(b *hostileop.Behaviour)
		lo, hi int
	}{
		{name: "discovery-huge", ep: hostileop.Discovery, fault: hostileop.Fault{Huge: huge}, lo: 503, hi: 503},
		{name: "discovery-endless", ep: hostileop.Discovery, fault: hostileop.Fault{Endless: true}, lo: 503, hi: 503},
		{name: "token-500", ep: hostileop.Token, fault: hostileop.Fault{Status: 500}, lo: 502, hi: 503},
		{name: "token-503", ep: hostileop.Token, fault: hostileop.Fault{Status: 503}, lo: 502, hi: 503},
		{name: "token-invalid_grant-is-a-refusal", ep: hostileop.Token, fault: hostileop.Fault{Status: 400, Error: "invalid_grant"}, lo: 400, hi: 499},
		{name: "token-huge", ep: hostileop.Token, fault: hostileop.Fault{Huge: huge}, lo: 502, hi: 502},
		{name: "token-endless", ep: hostileop.Token, fault: hostileop.Fault{Endless: true}, lo: 502, hi: 502},
		{name: "jwks-500", ep: hostileop.JWKS, fault: hostileop.Fault{Status: 500}, lo: 502, hi: 504},
		{name: "jwks-huge", ep: hostileop.JWKS, fault: hostileop.Fault{Huge: huge}, lo: 502, hi: 504},
		{name: "jwks-no-keys", beh: func(b *hostileop.Behaviour) { b.PublishedKeys = []*hostileop.Key{} }, lo: 502, hi: 504},
		{name: "userinfo-500", ep: hostileop.Userinfo, fault: hostileop.Fault{Status: 500}, lo: 502, hi: 503},
		{name: "userinfo-endless", ep: hostileop.Userinfo, fault: hostileop.Fault{Endless: true}, lo: 502, hi: 502},
	}
	for _, c := range cases {
		t.Run("DESIGN-provider/"+c.name, func(t *testing.T) {
			var beh hostileop.Behaviour
			if c.ep != "" {
				beh.Faults = map[hostileop.Endpoint]hostileop.Fault{c.ep: c.fault}
			}
			if c.beh != nil {
				c.beh(&beh)
			}
			s := newTestSite(t, siteOptions{behaviour: beh})
			b := s.browser(t)
			var resp *testResp
			if c.ep == hostileop.Discovery {
				resp = b.get("/auth/login")
			} else {
				resp = b.logIn("/auth/login")
			}
			b.assertRefused(resp, c.lo, c.hi)
		})
	}
}

// TestTokenEndpointHangs: a token endpoint that never answers gets the
// error page within stauth's provider timeout (10 s), not a hung request:
// the login is given providerTimeout and 5 s more, and fails the test when
// it is still unanswered then. The hostile endpoint is released when the
// request ends or the test does.
func TestTokenEndpointHangs(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for stauth's 10 s provider timeout")
	}
	t.Run("DESIGN-provider/token-endpoint-hangs", func(t *testing.T) {
		s := newTestSite(t, siteOptions{behaviour: hostileop.Behaviour{Faults: map[hostileop.Endpoint]hostileop.Fault{hostileop.Token: {Hang: true}}}})
		ctx, cancel := context.WithTimeout(t.Context(), providerTimeout+5*time.Second)
		defer cancel()
		b := s.browser(t).withContext(ctx)
		b.assertRefused(b.logIn("/auth/login"), 502, 504)
		if n := s.OP.Count(hostileop.Token); n != 1 {
			t.Errorf("%d token requests, want 1", n)
		}
	})
}
