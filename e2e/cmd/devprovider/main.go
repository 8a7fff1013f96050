// Command devprovider runs stauth's development OpenID provider alone, for
// trying stauth on your own Caddyfile with no account anywhere. It registers
// one client whose redirect URIs (also accepted after logout) are the ones
// given, prints the [auth] section to paste into secrets.toml (with a fresh
// cookie_secret) and the demo user's credentials, and serves until Ctrl-C.
// Run it from the repository root with
// `make dev-provider REDIRECT_URI=http://localhost:9080/oauth2callback`, or
// here with `go run ./cmd/devprovider http://localhost:9080/oauth2callback`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/stauth/caddy-stauth/e2e/devop"
)

// defaultPort is the provider's port when neither -port nor
// DEV_PROVIDER_PORT gives one; the demo's provider uses it too.
const defaultPort = 9998

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		fmt.Fprintln(os.Stderr, "devprovider:", err)
		os.Exit(1)
	}
}

// run parses args (and, for what they leave out, the environment), runs the
// provider, prints how to use it on out, and stops it when ctx ends.
func run(ctx context.Context, args []string, getenv func(string) string, out, errOut io.Writer) error {
	flags := flag.NewFlagSet("devprovider", flag.ContinueOnError)
	flags.SetOutput(errOut)
	flags.Usage = func() {
		fmt.Fprintln(errOut, "usage: devprovider [-port N] REDIRECT_URI...\n\nRuns a development OpenID provider on localhost whose client accepts the given\nredirect URIs (each argument may hold several, separated by commas; with no\nargument, $REDIRECT_URI is read) and prints the [auth] section for secrets.toml.")
		flags.PrintDefaults()
	}
	port := flags.Int("port", 0, fmt.Sprintf("the provider's port on localhost (default $DEV_PROVIDER_PORT, else %d)", defaultPort))
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *port == 0 {
		p, err := envPort(getenv("DEV_PROVIDER_PORT"))
		if err != nil {
			return err
		}
		*port = p
	}
	uris := splitURIs(flags.Args())
	if len(uris) == 0 {
		uris = splitURIs([]string{getenv("REDIRECT_URI")})
	}
	if len(uris) == 0 {
		return errors.New("give your site's redirect_uri, for example: make dev-provider REDIRECT_URI=http://localhost:9080/oauth2callback")
	}

	p, err := devop.Start(devop.Options{Addr: fmt.Sprintf("localhost:%d", *port), RedirectURIs: uris})
	if err != nil {
		return fmt.Errorf("%w (choose another port with -port or DEV_PROVIDER_PORT)", err)
	}
	secret, err := devop.CookieSecret()
	if err != nil {
		p.Close()
		return err
	}
	fmt.Fprint(out, banner(p, uris, secret))

	<-ctx.Done()
	fmt.Fprintln(out, "\nstopping…")
	return p.Close()
}

// envPort reads DEV_PROVIDER_PORT's value; empty is the default port.
func envPort(v string) (int, error) {
	if v == "" {
		return defaultPort, nil
	}
	p, err := strconv.Atoi(v)
	if err != nil || p < 1 || p > 65535 {
		return 0, fmt.Errorf("DEV_PROVIDER_PORT=%q is not a port number", v)
	}
	return p, nil
}

// splitURIs splits each argument at commas and spaces, dropping empty
// parts, so that REDIRECT_URI may list several either way.
func splitURIs(args []string) []string {
	var uris []string
	for _, a := range args {
		uris = append(uris, strings.FieldsFunc(a, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' })...)
	}
	return uris
}

// others is the note, for several redirect URIs, that the printed section
// has the first.
func others(n int) string {
	if n == 1 {
		return ""
	}
	return "\n(a site at another of the redirect URIs above puts that one in redirect_uri)"
}

// banner is what the command prints once the provider runs: the provider,
// the demo user, the redirect URIs and the [auth] section, which starts at
// its "[auth]" line and ends before the first blank line after it.
func banner(p *devop.Provider, uris []string, cookieSecret string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `
stauth's development OpenID provider is running (for development only: its
users and keys live in memory and are gone when it stops).

  Issuer     %s
  Sign in    username %q, password %q
  Redirects  %s
             (registered redirect URIs, also accepted after logout)

Paste this into the secrets.toml that your Caddyfile's stauth directive names%s:

`, p.Issuer, devop.DemoUser.Username, devop.DemoUser.Password, strings.Join(uris, "\n             "), others(len(uris)))
	b.WriteString(p.AuthSection(uris[0], cookieSecret))
	b.WriteString("\nPress Ctrl-C to stop.\n")
	return b.String()
}
