package e2e

// Browser end-to-end tests: Chromium logs in through stauth with two real
// OpenID providers, zitadel/oidc's OP (devop) and Dex (dexop), clicking
// through their own login pages.

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/stauth/caddy-stauth/e2e/devop"
	"github.com/stauth/caddy-stauth/e2e/dexop"
	"github.com/stauth/caddy-stauth/internal/testcaddy"
)

// browserPage is the protected page of the browser tests: who is logged in,
// with which provider, at which URI, and a sign-out button.
const browserPage = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Protected</title></head><body>` +
	`<h1 id="hello">Hello {http.auth.user.name}</h1>` +
	`<p>Email: <span id="email">{http.auth.user.email}</span></p>` +
	`<p>Provider: <span id="provider">{http.auth.user.provider}</span></p>` +
	`<p>Subject: <span id="sub">{http.auth.user.id}</span></p>` +
	`<p>URI: <span id="uri">{http.request.uri}</span></p>` +
	`<form method="post" action="/auth/logout"><button id="logout" type="submit">Sign out</button></form>` +
	`</body></html>`

// The elements of stauth's own pages (pages/page.html).
const (
	pageTitle   = chromedp.CSS("main h1")
	pageDetail  = chromedp.CSS("main p.detail")
	pageRetry   = chromedp.CSS("main .actions a.button.primary")
	pageChoices = chromedp.CSS("main ul.choices")
	// signedOut is the "Sign in again" link of the page a logout ends on.
	signedOut = chromedp.CSS(`main a.primary[href="/auth/login"]`)
)

// browserProvider is a real provider as the browser meets it.
type browserProvider struct {
	name string
	// start runs the provider for a client with redirectURI and returns
	// its server_metadata_url and issuer.
	start func(t *testing.T, redirectURI string) (metadataURL, issuer string)
	// loginField is the first field of the provider's login form.
	loginField chromedp.CSS
	// logIn fills the provider's login form and submits it.
	logIn func(b *tab)
	// refuse opens a protected page and has the provider send the browser
	// back with an error; it returns the response of the page that ends
	// on. refuseKwargs is what secrets.toml needs for the refusal; stauth
	// must then answer refusedStatus with a page titled refusedTitle that
	// names refusedCode.
	refuse        func(b *tab, pageURL string) *network.Response
	refuseKwargs  string
	refusedStatus int64
	refusedCode   string
	refusedTitle  string
	// email and fullName are the user's claims.
	email, fullName string
}

var zitadelProvider = browserProvider{
	name: "zitadel",
	start: func(t *testing.T, redirectURI string) (string, string) {
		p, err := devop.Start(devop.Options{RedirectURIs: []string{redirectURI}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		return p.MetadataURL, p.Issuer
	},
	loginField: "#username",
	logIn: func(b *tab) {
		b.c.t.Helper()
		b.fill("#username", devop.DemoUser.Username)
		b.fill("#password", devop.DemoUser.Password)
		b.click("#submit")
	},
	// The user presses Cancel on the login page: access_denied.
	refuse: func(b *tab, pageURL string) *network.Response {
		b.c.t.Helper()
		b.open(pageURL, "#username")
		return b.clickNavigate("#cancel")
	},
	refusedStatus: http.StatusForbidden,
	refusedCode:   "access_denied",
	refusedTitle:  "The sign-in was cancelled or denied",
	email:         devop.DemoUser.Email,
	fullName:      devop.DemoUser.FirstName + " " + devop.DemoUser.LastName,
}

var dexProvider = browserProvider{
	name: "dex",
	start: func(t *testing.T, redirectURI string) (string, string) {
		p, err := dexop.Start(dexop.Options{RedirectURIs: []string{redirectURI}, ClientSecret: "stauth-dev-secret"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		return p.MetadataURL, p.Issuer
	},
	loginField: "#login",
	logIn: func(b *tab) {
		b.c.t.Helper()
		b.fill("#login", dexop.DemoUser.Email)
		b.fill("#password", dexop.DemoUser.Password)
		b.click("#submit-login")
	},
	// Dex never sends access_denied back (its Cancel button ends on its own
	// page); it refuses a login request for a scope it does not know, as
	// with a typo in client_kwargs, by sending the browser back with
	// invalid_scope before showing its form.
	refuse: func(b *tab, pageURL string) *network.Response {
		b.c.t.Helper()
		return b.navigate(pageURL)
	},
	refuseKwargs:  `client_kwargs = { scope = "openid profile email groupz" }`,
	refusedStatus: http.StatusBadRequest,
	refusedCode:   "invalid_scope",
	refusedTitle:  "The sign-in did not succeed",
	email:         dexop.DemoUser.Email,
	fullName:      dexop.DemoUser.Name,
}

var browserProviders = []browserProvider{zitadelProvider, dexProvider}

// browserSite is a Caddy with stauth in front of browserPage.
type browserSite struct {
	URL    string // http://localhost:PORT
	Issuer string
}

// startBrowserSite runs a provider and a Caddy on a free port protecting
// browserPage with it as the only provider; extra goes into [auth].
func startBrowserSite(t *testing.T, p browserProvider, extra string) *browserSite {
	t.Helper()
	port := testcaddy.FreePort(t)
	base := fmt.Sprintf("http://localhost:%d", port)
	metadataURL, issuer := p.start(t, base+"/oauth2callback")
	secrets := writeFile(t, secretsFor(base+"/oauth2callback", testCookieSecret, metadataURL, extra))
	loadBrowserPage(t, testcaddy.Globals(t.TempDir(), port, testcaddy.FreePort(t)), fmt.Sprintf("http://localhost:%d", port), secrets)
	return &browserSite{URL: base, Issuer: issuer}
}

// loadBrowserPage runs Caddy with globals and one site at address, with
// stauth (reading secrets) in front of browserPage.
func loadBrowserPage(t *testing.T, globals, address, secrets string) {
	t.Helper()
	testcaddy.Load(t, globals+fmt.Sprintf(`
%s {
	route {
		stauth %s
		header Content-Type "text/html; charset=utf-8"
		respond %q
	}
}
`, address, secrets, browserPage))
}

// TestBrowserLogin logs in with Chromium through each real provider's own
// login page: the protected page sends the browser to the provider, the
// form is filled and submitted, and the browser lands on the page it first
// asked for, query included, with the identity shown. A reload and a second
// tab stay logged in; signing out makes the protected page ask for a login
// again.
func TestBrowserLogin(t *testing.T) {
	for _, p := range browserProviders {
		t.Run(p.name, func(t *testing.T) {
			chromiumPath(t)
			site := startBrowserSite(t, p, "")
			c := newChrome(t)
			first := c.tab("first")

			first.open(site.URL+"/report?x=1&y=%C3%A9", p.loginField)
			if got := first.url(); !strings.HasPrefix(got, site.Issuer) {
				t.Fatalf("the protected page led to %s, want the provider's login page under %s", got, site.Issuer)
			}
			if names := first.cookieNames(site.URL, "stauth_login_"); len(names) != 1 {
				t.Fatalf("during the login the browser holds login cookies %v, want one", names)
			}

			p.logIn(first)
			first.waitFor("#email")
			assertIdentity(t, first, p, "default")
			if got, want := first.url(), site.URL+"/report?x=1&y=%C3%A9"; got != want {
				t.Fatalf("after the login the browser is at %s, want the page first asked for, %s", got, want)
			}
			if got := first.text("#uri"); got != "/report?x=1&y=%C3%A9" {
				t.Fatalf("the page saw the request URI %q", got)
			}
			assertSessionCookie(t, first, site.URL, "stauth_session", false)

			first.reload("#email")
			assertIdentity(t, first, p, "default")

			second := c.tab("second")
			second.open(site.URL+"/other", "#email")
			assertIdentity(t, second, p, "default")
			if got := second.url(); got != site.URL+"/other" {
				t.Fatalf("the second tab is at %s, want %s/other without a login", got, site.URL)
			}

			// The browser ends on the site's signed-out page (at the
			// callback after the provider's logout, or at the logout path
			// for a provider without one), whose link asks the provider
			// again.
			first.click("#logout")
			first.waitFor(signedOut)
			if got := first.url(); !strings.HasPrefix(got, site.URL+"/") {
				t.Fatalf("after signing out the browser is at %s, want the signed-out page on the site", got)
			}
			if names := first.cookieNames(site.URL, "stauth_session"); len(names) != 0 {
				t.Fatalf("after signing out the browser still holds %v", names)
			}
			first.click(signedOut)
			first.waitFor(p.loginField)
			if got := first.url(); !strings.HasPrefix(got, site.Issuer) {
				t.Fatalf("signing in again after signing out led to %s, want the provider's login page", got)
			}
			second.reload(p.loginField)
		})
	}
}

// TestBrowserRefusedLogin has the provider send the browser back with an
// error: stauth shows a readable page naming the error, with a link that
// starts the same login again (same provider, same return path).
func TestBrowserRefusedLogin(t *testing.T) {
	for _, p := range browserProviders {
		t.Run(p.name, func(t *testing.T) {
			chromiumPath(t)
			site := startBrowserSite(t, p, p.refuseKwargs)
			b := newChrome(t).tab("main")

			resp := p.refuse(b, site.URL+"/report?x=1")
			if resp.Status != p.refusedStatus || !strings.HasPrefix(resp.URL, site.URL+"/oauth2callback?") {
				t.Fatalf("the refused login ended with %d at %s, want %d at the callback", resp.Status, resp.URL, p.refusedStatus)
			}
			if got := b.text(pageTitle); got != p.refusedTitle {
				t.Fatalf("the error page's title is %q, want %q", got, p.refusedTitle)
			}
			if got := b.text(pageDetail); !strings.Contains(got, p.refusedCode) {
				t.Fatalf("the error page's detail %q does not name %s", got, p.refusedCode)
			}
			if names := b.cookieNames(site.URL, "stauth_"); len(names) != 0 {
				t.Fatalf("after a refused login the browser holds %v", names)
			}
			href := run(b, "reading the retry link", chromedp.AttributeValue(pageRetry, "href"))
			if want := "/auth/login?provider=default&rd=%2Freport%3Fx%3D1"; href.Value != want {
				t.Fatalf("the retry link is %q, want %q", href.Value, want)
			}
			if got := b.text(pageRetry); got != "Try again" {
				t.Fatalf("the retry link says %q", got)
			}

			if p.refuseKwargs != "" {
				// The provider refuses every attempt: the link starts a new
				// login, which ends on the same page.
				resp := b.clickNavigate(pageRetry)
				if resp.Status != p.refusedStatus || !strings.Contains(b.text(pageDetail), p.refusedCode) {
					t.Fatalf("the retried login ended with %d on %q", resp.Status, b.text(pageDetail))
				}
				return
			}
			b.click(pageRetry)
			b.waitFor(p.loginField)
			p.logIn(b)
			b.waitFor("#email")
			assertIdentity(t, b, p, "default")
			if got := b.url(); got != site.URL+"/report?x=1" {
				t.Fatalf("after the retried login the browser is at %s", got)
			}
		})
	}
}

// TestBrowserChooser configures both providers: the login shows stauth's
// chooser page; each choice logs in through that provider and returns to
// the page first asked for.
func TestBrowserChooser(t *testing.T) {
	chromiumPath(t)
	port := testcaddy.FreePort(t)
	base := fmt.Sprintf("http://localhost:%d", port)
	zMeta, zIssuer := zitadelProvider.start(t, base+"/oauth2callback")
	dMeta, dIssuer := dexProvider.start(t, base+"/oauth2callback")
	section := func(name, display, meta string) string {
		return fmt.Sprintf("[auth.%s]\ndisplay_name = %q\nclient_id = \"stauth\"\nclient_secret = \"stauth-dev-secret\"\nserver_metadata_url = %q\n", name, display, meta)
	}
	secrets := writeFile(t, fmt.Sprintf("[auth]\nredirect_uri = %q\ncookie_secret = %q\n\n", base+"/oauth2callback", testCookieSecret)+
		section("zitadel", "Development provider", zMeta)+section("dex", "Dex", dMeta))
	loadBrowserPage(t, testcaddy.Globals(t.TempDir(), port, testcaddy.FreePort(t)), base, secrets)
	b := newChrome(t).tab("main")

	b.open(base+"/report?x=1", pageChoices)
	if got := b.text(pageChoices); !strings.Contains(got, "Continue with Development provider") || !strings.Contains(got, "Continue with Dex") {
		t.Fatalf("the chooser lists %q", got)
	}
	b.click(`main ul.choices a[href*="provider=dex&"]`)
	b.waitFor(dexProvider.loginField)
	if got := b.url(); !strings.HasPrefix(got, dIssuer) {
		t.Fatalf("choosing Dex led to %s", got)
	}
	dexProvider.logIn(b)
	b.waitFor("#email")
	assertIdentity(t, b, dexProvider, "dex")
	if got := b.url(); got != base+"/report?x=1" {
		t.Fatalf("after the login with Dex the browser is at %s", got)
	}

	// Dex has no end_session_endpoint: signing out lands on the site's
	// signed-out page, whose link asks for a login again, with the chooser.
	b.click("#logout")
	b.waitFor(signedOut)
	b.click(signedOut)
	b.waitFor(pageChoices)
	b.click(`main ul.choices a[href*="provider=zitadel"]`)
	b.waitFor(zitadelProvider.loginField)
	if got := b.url(); !strings.HasPrefix(got, zIssuer) {
		t.Fatalf("choosing the development provider led to %s", got)
	}
	zitadelProvider.logIn(b)
	b.waitFor("#email")
	assertIdentity(t, b, zitadelProvider, "zitadel")
}

// assertIdentity checks the protected page shows the provider's user.
func assertIdentity(t *testing.T, b *tab, p browserProvider, providerName string) {
	t.Helper()
	if got := b.text("#email"); got != p.email {
		t.Fatalf("%s: the page shows email %q, want %q", b.name, got, p.email)
	}
	if got := b.text("#hello"); got != "Hello "+p.fullName {
		t.Fatalf("%s: the page says %q, want %q", b.name, got, "Hello "+p.fullName)
	}
	if got := b.text("#provider"); got != providerName {
		t.Fatalf("%s: the page shows provider %q, want %q", b.name, got, providerName)
	}
	if b.text("#sub") == "" {
		t.Fatalf("%s: the page shows no subject", b.name)
	}
}

// assertSessionCookie checks the browser holds exactly one session cookie
// named name for url, HttpOnly, SameSite=Lax, Path=/, host-only, Secure as
// asked, and no login transaction cookie.
func assertSessionCookie(t *testing.T, b *tab, url, name string, secure bool) {
	t.Helper()
	var found int
	for _, c := range b.cookies(url) {
		switch {
		case strings.Contains(c.Name, "stauth_login_"):
			t.Errorf("the login cookie %s survived the login", c.Name)
		case c.Name == name:
			found++
			if !c.HTTPOnly || c.SameSite != "Lax" || c.Path != "/" || c.Secure != secure || strings.HasPrefix(c.Domain, ".") {
				t.Errorf("session cookie %s: HttpOnly=%v SameSite=%q Path=%q Secure=%v Domain=%q; want HttpOnly, Lax, /, Secure=%v, host-only",
					c.Name, c.HTTPOnly, c.SameSite, c.Path, c.Secure, c.Domain, secure)
			}
		case strings.Contains(c.Name, "stauth"):
			t.Errorf("unexpected stauth cookie %s", c.Name)
		}
	}
	if found != 1 {
		t.Fatalf("the browser holds %d cookies named %s for %s, want 1", found, name, url)
	}
}
