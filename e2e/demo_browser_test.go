package e2e

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/stauth/caddy-stauth/e2e/demo"
	"github.com/stauth/caddy-stauth/internal/testcaddy"
)

// TestDemoInBrowser runs the demo (`make demo`) on free ports and signs in
// with Chromium as a newcomer would: the URL leads to the development
// provider's form, the printed credentials log in, the page greets the user
// and lists the claims, and Sign out leads back to the login form.
func TestDemoInBrowser(t *testing.T) {
	chromiumPath(t)
	d, err := demo.Start(demo.Config{Port: testcaddy.FreePort(t), ProviderPort: testcaddy.FreePort(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	b := newChrome(t).tab("demo")

	b.open(d.URL, "#username")
	if got := b.url(); !strings.HasPrefix(got, d.Provider.Issuer) {
		t.Fatalf("the demo's URL led to %s, want the provider's login form", got)
	}
	b.fill("#username", d.Username)
	b.fill("#password", d.Password)
	b.click("#submit")
	b.waitFor("#greeting")
	if got := b.text("#greeting"); got != "Hello, Dana Demo!" {
		t.Fatalf("the demo greets with %q", got)
	}
	if got := b.url(); got != d.URL+"/" {
		t.Fatalf("after the login the browser is at %s", got)
	}
	for claim, want := range map[string]string{"email": "demo@example.com", "id": "demo-user-1", "preferred_username": "demo", "is_logged_in": "true"} {
		if got := b.text(chromedp.CSS(`td[data-claim="` + claim + `"]`)); got != want {
			t.Errorf("the claims table shows %s = %q, want %q", claim, got, want)
		}
	}
	b.click("#logout")
	b.waitFor(signedOut)
	b.click(signedOut)
	b.waitFor("#username")
}
