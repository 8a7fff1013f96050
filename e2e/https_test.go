package e2e

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/stauth/caddy-stauth/internal/testcaddy"
)

// TestBrowserHTTPS logs in with Chromium over real https: Caddy's `tls
// internal` certificate on localhost, an https redirect_uri. The cookies the
// browser holds are then the production ones: the __Host- prefix, Secure,
// HttpOnly, SameSite=Lax, Path=/, no Domain, kept through the round trip to
// the provider and back. (Chromium accepts Secure cookies over plain http on
// localhost, so an http run cannot show that these cookies work where
// browsers enforce the rules: on https.)
func TestBrowserHTTPS(t *testing.T) {
	chromiumPath(t)
	p := zitadelProvider
	port := testcaddy.FreePort(t)
	base := fmt.Sprintf("https://localhost:%d", port)
	metadataURL, issuer := p.start(t, base+"/oauth2callback")
	secrets := writeFile(t, secretsFor(base+"/oauth2callback", testCookieSecret, metadataURL, ""))
	caddyDir := t.TempDir()
	globals := testcaddy.Globals(caddyDir, testcaddy.FreePort(t), port)
	testcaddy.Load(t, globals+fmt.Sprintf(`
%s {
	tls internal
	route {
		stauth %s
		header Content-Type "text/html; charset=utf-8"
		respond %q
	}
}
`, base, secrets, browserPage))
	waitForLocalCertificate(t, fmt.Sprintf("localhost:%d", port), filepath.Join(caddyDir, "caddy-storage"))

	// Caddy's local CA is in no trust store (skip_install_trust: the test
	// changes nothing on the machine). Chromium accepts certificates that
	// it issued, and no others, through the hash of its intermediate's
	// public key (waitForLocalCertificate has checked the chain and the
	// name against the local root).
	b := newChromeFlags(t, map[string]string{"ignore-certificate-errors-spki-list": localCASPKI(t, filepath.Join(caddyDir, "caddy-storage"))}).tab("main")

	b.open(base+"/report?x=1", p.loginField)
	if got := b.url(); !strings.HasPrefix(got, issuer) {
		t.Fatalf("the protected page led to %s", got)
	}
	login := b.cookies(base)
	if len(login) != 1 || !strings.HasPrefix(login[0].Name, "__Host-stauth_login_") || !login[0].Secure || !login[0].HTTPOnly {
		for _, c := range login {
			t.Logf("cookie %s Secure=%v HttpOnly=%v", c.Name, c.Secure, c.HTTPOnly)
		}
		t.Fatalf("during the login the browser holds %d cookies, want one Secure, HttpOnly __Host-stauth_login_ cookie", len(login))
	}

	p.logIn(b)
	b.waitFor("#email")
	assertIdentity(t, b, p, "default")
	if got := b.url(); got != base+"/report?x=1" {
		t.Fatalf("after the login the browser is at %s", got)
	}
	assertSessionCookie(t, b, base, "__Host-stauth_session", true)
	if secure := run(b, "checking the page is a secure context", chromedp.Evaluate[bool]("window.isSecureContext && location.protocol === 'https:'")); !secure {
		t.Fatal("the page is not an https secure context")
	}

	b.reload("#email")
	assertIdentity(t, b, p, "default")
	b.click("#logout")
	b.waitFor(signedOut)
	if names := b.cookieNames(base, "stauth_session"); len(names) != 0 {
		t.Fatalf("after signing out the browser holds %v", names)
	}
	b.click(signedOut)
	b.waitFor(p.loginField)
}

// waitForLocalCertificate waits until Caddy serves, at addr, a certificate
// for localhost issued by its local CA (whose root is in storage): Caddy
// obtains it in the background after the config loads.
func waitForLocalCertificate(t *testing.T, addr, storage string) {
	t.Helper()
	rootPath := filepath.Join(storage, "pki", "authorities", "local", "root.crt")
	try := func() error {
		rootPEM, err := os.ReadFile(rootPath)
		if err != nil {
			return err
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(rootPEM) {
			return fmt.Errorf("no certificate in %s", rootPath)
		}
		dialer := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 2 * time.Second}, Config: &tls.Config{ServerName: "localhost", RootCAs: roots}}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		conn, err := dialer.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return conn.Close()
	}
	poll := time.NewTicker(50 * time.Millisecond)
	defer poll.Stop()
	deadline := time.After(30 * time.Second)
	for {
		err := try()
		if err == nil {
			return
		}
		select {
		case <-poll.C:
		case <-deadline:
			t.Fatalf("Caddy did not serve a certificate of its local CA for localhost at %s within 30 s: %v", addr, err)
		}
	}
}

// localCASPKI is the base64 SHA-256 of the public key of Caddy's local
// intermediate CA (the one in the chain Caddy serves), as Chromium's
// --ignore-certificate-errors-spki-list takes it.
func localCASPKI(t *testing.T, storage string) string {
	t.Helper()
	caPEM, err := os.ReadFile(filepath.Join(storage, "pki", "authorities", "local", "intermediate.crt"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(caPEM)
	if block == nil {
		t.Fatal("no PEM block in Caddy's local intermediate certificate")
	}
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(ca.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}
