package stauth

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stauth/caddy-stauth/internal/hostileop"
	"github.com/stauth/caddy-stauth/internal/testcaddy"
)

// TestMetrics: stauth's counters appear on Caddy's metrics endpoint
// (admin API, metrics global option) after a login and a refusal.
func TestMetrics(t *testing.T) {
	admin := testcaddy.FreePort(t)
	s := newTestSite(t, siteOptions{adminPort: admin, behaviour: hostileop.Behaviour{NoEndSession: true}})
	b := s.browser(t)
	b.mustLogIn("/auth/login", "/")
	copied := b.cookie("stauth_session")
	b.do(http.MethodPost, "/auth/logout", "Sec-Fetch-Site", "same-origin")
	if got := s.replayStatus(t, copied); got != http.StatusUnauthorized {
		t.Fatalf("a revoked session: %d", got)
	}
	resp, err := http.Get(fmt.Sprintf("http://localhost:%d/metrics", admin))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		"caddy_stauth_logins_total ",
		`caddy_stauth_session_refusals_total{reason="revoked"} `,
		`caddy_stauth_logouts_total{kind="session",stored="true"} `,
		"caddy_stauth_revocations ",
		"caddy_stauth_revocations_refresh_age_seconds ",
	} {
		if !strings.Contains(string(body), "\n"+want) {
			t.Errorf("the metrics endpoint (%s) lacks %q", resp.Status, want)
		}
	}
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "caddy_stauth_logins_total ") && strings.HasSuffix(line, " 0") {
			t.Errorf("no login counted: %s", line)
		}
	}
}
