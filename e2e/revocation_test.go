package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stauth/caddy-stauth/internal/hostileop"
	"github.com/stauth/caddy-stauth/internal/testcaddy"
	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// revocationDeadline is how long another instance may take to refuse a
// revoked session: revocationInterval (2 s) plus a refresh, with room for
// a loaded machine.
const revocationDeadline = 20 * time.Second

// TestRevocationAcrossProcesses runs two real Caddy processes (cmd/caddy)
// sharing one file-system storage behind a balancer that sends everything
// to A. A session revoked on A, by logout or by a back-channel logout
// posted to A, is refused on B when the same cookie is replayed there,
// within revocationDeadline.
func TestRevocationAcrossProcesses(t *testing.T) {
	bin := buildCaddy(t)
	lbPort, portA, portB := testcaddy.FreePort(t), testcaddy.FreePort(t), testcaddy.FreePort(t)
	lbURL := fmt.Sprintf("http://localhost:%d", lbPort)
	op := hostileop.New(t, hostileop.Config{ClientID: "stauth", ClientSecret: "stauth-dev-secret"})
	secrets := writeSecrets(t, lbPort, op.MetadataURL, "")
	shared := t.TempDir()
	startCaddy(t, bin, "A", processCaddyfile(shared, portA, 0, secrets, "A", 1))
	startCaddy(t, bin, "B", processCaddyfile(shared, portB, 0, secrets, "B", 1))
	lb := startBalancer(t, lbPort, map[string]int{"A": portA, "B": portB})
	lb.setRoute(func(*http.Request) string { return "A" })

	logIn := func(sid string) string {
		op.Set(func(b *hostileop.Behaviour) { b.Claims = func(c map[string]any) { c["sid"] = sid } })
		client := browser(t)
		resp, body := fetchFollowing(t, client, lbURL+"/page")
		if want := "instance=A version=1 id=" + hostileop.DefaultSubject; resp.StatusCode != http.StatusOK || !strings.HasPrefix(body, want) {
			t.Fatalf("login: %s %q", resp.Status, body)
		}
		cookie := sessionCookieValue(t, client, lbURL)
		if got := replayOn(t, portB, cookie); got != http.StatusOK {
			t.Fatalf("the session on B before any logout: %d", got)
		}
		return cookie
	}

	t.Run("logout-on-A", func(t *testing.T) {
		cookie := logIn("sid-logout")
		req, _ := http.NewRequest(http.MethodPost, lbURL+"/auth/logout", nil)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		req.Header.Set("Cookie", "stauth_session="+cookie)
		resp, err := noRedirects(browser(t)).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusOK {
			t.Fatalf("logout on A: %s", resp.Status)
		}
		waitRefused(t, portB, cookie)
	})

	t.Run("backchannel-logout-to-A", func(t *testing.T) {
		cookie := logIn("sid-backchannel")
		// The logout token as zitadel/oidc's OP library makes one (its
		// devop does not send back-channel logouts itself), signed with
		// the hostile provider's published key.
		claims := oidc.NewLogoutTokenClaims(op.URL, "", oidc.Audience{"stauth"}, time.Now().Add(2*time.Minute),
			fmt.Sprint(time.Now().UnixNano()), "sid-backchannel", 0)
		resp, err := http.PostForm(fmt.Sprintf("http://localhost:%d/auth/backchannel-logout", portA), url.Values{"logout_token": {signedJWT(t, claims)}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("back-channel logout on A: %s", resp.Status)
		}
		waitRefused(t, portB, cookie)
	})
}

// fetchFollowing loads a page as a browser, following redirects.
func fetchFollowing(t *testing.T, client *http.Client, target string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, target, nil)
	req.Header.Set("Accept", "text/html")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body [512]byte
	n, _ := resp.Body.Read(body[:])
	return resp, string(body[:n])
}

// replayOn is the status of an API call to instance port with the session
// cookie alone.
func replayOn(t *testing.T, port int, cookie string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://localhost:%d/page", port), nil)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Cookie", "stauth_session="+cookie)
	resp, err := noRedirects(browser(t)).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// waitRefused polls instance port until it refuses the cookie, failing past
// revocationDeadline.
func waitRefused(t *testing.T, port int, cookie string) {
	t.Helper()
	deadline := time.Now().Add(revocationDeadline)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		got := replayOn(t, port, cookie)
		if got == http.StatusUnauthorized {
			return
		}
		if got != http.StatusOK || time.Now().After(deadline) {
			t.Fatalf("B still answers %d to the revoked session after %s", got, revocationDeadline)
		}
		<-tick.C
	}
}

// signedJWT signs claims with the hostile provider's published key.
func signedJWT(t *testing.T, claims any) string {
	t.Helper()
	raw, err := hostileop.SharedRSAKey("rsa-1").SignJWT("logout+jwt", claims, nil)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
