package stauth

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stauth/caddy-stauth/internal/testcaddy"
)

// TestIdleTimeout: a session unused for idle_timeout ends; an
// active one is sealed again with its new last use, but not on every
// request.
func TestIdleTimeout(t *testing.T) {
	s := newTestSite(t, siteOptions{stauth: "idle_timeout 1h"})
	b := s.browser(t)
	b.mustLogIn("/auth/login", "/")
	good := b.cookie("stauth_session")
	idle := s.reseal(t, good, func(sess *session) { sess.lastUsed = time.Now().Add(-61 * time.Minute).Unix() })
	if got := s.replayStatus(t, idle); got != http.StatusUnauthorized {
		t.Fatalf("a session unused for 61m under idle_timeout 1h: %d", got)
	}
	fresh := b.get("/private")
	if fresh.StatusCode != http.StatusOK || setsSession(fresh) {
		t.Fatalf("a session just used: %s, sealed again %v (want 200, not sealed again)", fresh.Status, setsSession(fresh))
	}
	active := s.reseal(t, good, func(sess *session) { sess.lastUsed = time.Now().Add(-20 * time.Minute).Unix() })
	resp := s.browser(t).do(http.MethodGet, "/private", "Cookie", "stauth_session="+active)
	if resp.StatusCode != http.StatusOK || !setsSession(resp) || !strings.Contains(resp.Header.Get("Cache-Control"), "no-store") {
		t.Fatalf("a session last used 20m ago: %s, sealed again %v, Cache-Control %q", resp.Status, setsSession(resp), resp.Header.Get("Cache-Control"))
	}
	var renewed string
	for _, c := range resp.Cookies() {
		if c.Name == "stauth_session" {
			renewed = c.Value
		}
	}
	plain, _, ok := s.sealer(t, purposeSession, atkCookieSecret).open(renewed)
	sess, decoded := decodeSession(plain)
	if !ok || !decoded || time.Since(time.Unix(sess.lastUsed, 0)) > time.Minute {
		t.Fatalf("the renewed cookie does not carry the new last use")
	}
	for _, c := range []struct{ text, want string }{
		{"idle_timeout 30s", "at least 1m"},
		{"idle_timeout 30d", "shorter than session_ttl"},
	} {
		if err := testcaddy.LoadErr(fmt.Sprintf("http://:%d {\n\tstauth %s {\n\t\t%s\n\t}\n}\n", testcaddy.FreePort(t), filepath.Join("testdata", "missing.toml"), c.text)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", c.text, err, c.want)
		}
	}
}
