package demo

import (
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stauth/caddy-stauth/e2e/devop"
	"github.com/stauth/caddy-stauth/internal/testcaddy"
)

// TestMain keeps Caddy (and anything else) out of the real home.
func TestMain(m *testing.M) { testcaddy.Main(m, "stauth-demo-test") }

// TestDemo starts the demo as `make demo` does (on free ports) and logs in
// as the printed demo user: the page greets the user by name and lists the
// claims, HTML-escaped; signing out works; Close removes every file.
func TestDemo(t *testing.T) {
	d, err := Start(Config{Port: testcaddy.FreePort(t), ProviderPort: testcaddy.FreePort(t)})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			d.Close()
		}
	})
	if d.Username != devop.DemoUser.Username || d.Password != devop.DemoUser.Password {
		t.Fatalf("the demo prints credentials %q/%q that are not the demo user's", d.Username, d.Password)
	}
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, body, err := devop.LogIn(client, d.URL+"/", d.Username, d.Password)
	if err != nil {
		t.Fatal(err)
	}
	page := string(body)

	// The same server under another name sends the browser to localhost,
	// the host redirect_uri names.
	other := strings.Replace(d.URL, "localhost", "127.0.0.1", 1) + "/x?y=1"
	if resp, err := noRedirect.Get(other); err != nil || resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != d.URL+"/x?y=1" {
		t.Errorf("%s: %v %v, want a redirect to %s/x?y=1", other, resp, err, d.URL)
	}
	if resp.StatusCode != http.StatusOK || resp.Request.URL.String() != d.URL+"/" {
		t.Fatalf("after the login: %s at %s\n%s", resp.Status, resp.Request.URL, page)
	}
	for _, want := range []string{
		`<h1 id="greeting">Hello, Dana Demo!</h1>`,
		`<strong id="provider">default</strong>`,
		`<tr><th>{http.auth.user.email}</th><td data-claim="email">demo@example.com</td></tr>`,
		`<tr><th>{http.auth.user.id}</th><td data-claim="id">demo-user-1</td></tr>`,
		`<tr><th>{http.auth.user.given_name}</th><td data-claim="given_name">Dana</td></tr>`,
		`<tr><th>{http.auth.user.is_logged_in}</th><td data-claim="is_logged_in">true</td></tr>`,
		`<form method="post" action="/auth/logout">`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the demo page lacks %s", want)
		}
	}
	if t.Failed() {
		t.Fatalf("the page:\n%s", page)
	}

	// Sign out: the provider ends its session and sends the browser back
	// to the site's signed-out page, whose link asks for a login again.
	req, _ := http.NewRequest(http.MethodPost, d.URL+"/auth/logout", nil)
	req.Header.Set("Accept", "text/html")
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	// stauth hands the provider's logout URL, which carries the ID token,
	// to the browser in a page that refreshes to it.
	if m := regexp.MustCompile(`<meta http-equiv="refresh" content="0;url=([^"]*)">`).FindSubmatch(body); m != nil {
		req, _ := http.NewRequest(http.MethodGet, html.UnescapeString(string(m[1])), nil)
		req.Header.Set("Accept", "text/html")
		if resp, err = client.Do(req); err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if resp.Request.URL.Path != "/oauth2callback" || !strings.Contains(string(body), `href="/auth/login"`) {
		t.Fatalf("after signing out the browser is at %s (%s), want the signed-out page", resp.Request.URL, resp.Status)
	}
	if resp, err = client.Get(d.URL + "/auth/login"); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Request.URL.Path != "/login/username" {
		t.Fatalf("signing in again after signing out led to %s (%s), want the provider's login page", resp.Request.URL, resp.Status)
	}

	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	closed = true
	if _, err := os.Stat(d.Dir); !os.IsNotExist(err) {
		t.Fatalf("Close left %s behind (%v)", d.Dir, err)
	}
	if _, err := http.Get(d.URL); err == nil {
		t.Fatal("the site still answers after Close")
	}
}

// TestDemoPortTaken gives a clear error when the site's port is in use.
func TestDemoPortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	_, err = Start(Config{Port: port, ProviderPort: testcaddy.FreePort(t)})
	if err == nil || !strings.Contains(err.Error(), "is not free (choose another with -port)") {
		t.Fatalf("starting on a taken port: %v", err)
	}
}
