// Command demo runs stauth's demo: a development OpenID provider with a demo
// user and Caddy with stauth in front of a page that greets the user. It
// prints the URL and the credentials; Ctrl-C stops it. Run it from the
// repository root with `make demo`, or here with `go run ./cmd/demo`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/stauth/caddy-stauth/e2e/demo"
)

func main() {
	port := flag.Int("port", 8080, "the site's port on localhost")
	providerPort := flag.Int("provider-port", 9998, "the development OpenID provider's port on localhost")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	d, err := demo.Start(demo.Config{Port: *port, ProviderPort: *providerPort})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf(`
stauth demo is running.

  Open      %s
  Sign in   username %q, password %q

  Provider  %s (a development OpenID provider, in this process)
  Files     %s (secrets.toml, Caddyfile, site/; removed on exit)

Press Ctrl-C to stop.
`, d.URL, d.Username, d.Password, d.Provider.Issuer, d.Dir)

	<-ctx.Done()
	stop()
	fmt.Println("\nstopping…")
	if err := d.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}
