// Package demo is stauth's one-command demo: a development OpenID provider
// (zitadel/oidc's OP, in-process, with a demo user) and Caddy, in this same
// process, with stauth in front of a page that greets the user, lists their
// claims through placeholders and has a sign-out button. Everything it
// writes (secrets.toml with a fresh cookie_secret, the Caddyfile, the page,
// Caddy's storage) lives in one temporary directory that Close removes.
package demo

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"

	// Caddy's standard modules and stauth, as in the plugin's cmd/caddy.
	_ "github.com/caddyserver/caddy/v2/modules/standard"
	_ "github.com/stauth/caddy-stauth"

	"github.com/stauth/caddy-stauth/e2e/devop"
)

// Config chooses the demo's ports.
type Config struct {
	// Port is the site's port on localhost (the demo command's default:
	// 8080).
	Port int
	// ProviderPort is the development provider's port on localhost (the
	// demo command's default: 9998).
	ProviderPort int
}

// Demo is a running demo.
type Demo struct {
	// URL is the protected site, http://localhost:PORT.
	URL string
	// Provider is the development OpenID provider.
	Provider *devop.Provider
	// Username and Password are the demo user's credentials.
	Username, Password string
	// Dir holds the demo's files: secrets.toml, Caddyfile, site/.
	Dir string

	loaded bool // Caddy runs this demo's config
}

// Start runs the provider and Caddy. Caddy runs in this process (one Caddy
// config per process: Start replaces whatever config ran before).
func Start(cfg Config) (*Demo, error) {
	if cfg.Port == 0 || cfg.ProviderPort == 0 {
		return nil, errors.New("demo: both ports are needed")
	}
	if cfg.Port == cfg.ProviderPort {
		return nil, errors.New("demo: the site and the provider need different ports")
	}
	dir, err := os.MkdirTemp("", "stauth-demo-")
	if err != nil {
		return nil, err
	}
	d := &Demo{
		URL:      fmt.Sprintf("http://localhost:%d", cfg.Port),
		Username: devop.DemoUser.Username,
		Password: devop.DemoUser.Password,
		Dir:      dir,
	}
	if err := d.start(cfg); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// start does Start's work; on an error, Start cleans up.
func (d *Demo) start(cfg Config) error {
	dir := d.Dir

	// Fail early, with a clear message, if the site's port is taken.
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", cfg.Port))
	if err != nil {
		return fmt.Errorf("demo: port %d is not free (choose another with -port): %w", cfg.Port, err)
	}
	ln.Close()
	redirectURI := d.URL + "/oauth2callback"
	d.Provider, err = devop.Start(devop.Options{
		Addr:         fmt.Sprintf("localhost:%d", cfg.ProviderPort),
		RedirectURIs: []string{redirectURI},
	})
	if err != nil {
		return fmt.Errorf("%w (choose another port with -provider-port)", err)
	}

	secret, err := devop.CookieSecret()
	if err != nil {
		return err
	}
	secrets := filepath.Join(dir, "secrets.toml")
	if err := os.WriteFile(secrets, []byte(SecretsTOML(redirectURI, secret, d.Provider)), 0o600); err != nil {
		return err
	}
	site := filepath.Join(dir, "site")
	if err := os.Mkdir(site, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(site, "index.html"), []byte(Page), 0o644); err != nil {
		return err
	}
	caddyfile := Caddyfile(cfg.Port, dir, secrets, site, ipv6Loopback())
	if err := os.WriteFile(filepath.Join(dir, "Caddyfile"), []byte(caddyfile), 0o644); err != nil {
		return err
	}
	adapted, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), map[string]any{"filename": filepath.Join(dir, "Caddyfile")})
	if err != nil {
		return fmt.Errorf("demo: adapting the Caddyfile: %w", err)
	}
	for _, w := range warnings {
		fmt.Fprintln(os.Stderr, "demo: Caddyfile:", w.String())
	}
	if err := caddy.Load(adapted, true); err != nil {
		return fmt.Errorf("demo: starting Caddy: %w", err)
	}
	d.loaded = true
	return nil
}

// Close stops Caddy and the provider and removes the demo's files.
func (d *Demo) Close() error {
	var errs []error
	if d.loaded {
		errs = append(errs, caddy.Stop())
	}
	if d.Provider != nil {
		errs = append(errs, d.Provider.Close())
	}
	errs = append(errs, os.RemoveAll(d.Dir))
	return errors.Join(errs...)
}

// SecretsTOML is the demo's secrets.toml: Streamlit's schema, one provider.
func SecretsTOML(redirectURI, cookieSecret string, p *devop.Provider) string {
	return "# The demo's secrets.toml, in Streamlit's schema (.streamlit/secrets.toml).\n" + p.AuthSection(redirectURI, cookieSecret)
}

// Caddyfile is the demo's Caddyfile: stauth in front of the page, which
// Caddy's templates fill in with the user's placeholders.
func Caddyfile(port int, dir, secrets, site string, ipv6 bool) string {
	bind := "127.0.0.1"
	if ipv6 {
		bind += " [::1]"
	}
	return fmt.Sprintf(`{
	admin off
	persist_config off
	auto_https off
	storage file_system %[1]q
	log {
		format console
		level WARN
		include http.handlers.stauth
	}
}

http://localhost:%[2]d {
	bind %[3]s
	route {
		stauth %[4]q
		templates
		file_server {
			root %[5]q
		}
	}
}

# Any other name for this server, such as 127.0.0.1: the site's own name,
# which redirect_uri names, so that the login cookie comes back.
http://:%[2]d {
	bind %[3]s
	redir http://localhost:%[2]d{uri}
}
`, filepath.Join(dir, "caddy"), port, bind, secrets, site)
}

// ipv6Loopback reports whether ::1 can be bound, so the site answers a
// browser that resolves localhost to it.
func ipv6Loopback() bool {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// Page is the demo's protected page. Caddy's templates fill in the
// placeholders stauth sets ({http.auth.user.*}), HTML-escaped.
const Page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>stauth demo</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.35rem .6rem;border-bottom:1px solid #8884}
th{font-weight:600;white-space:nowrap}
td{font-family:ui-monospace,monospace;overflow-wrap:anywhere}
button{font:inherit;padding:.5rem 1rem;margin-top:1.5rem}
</style>
</head>
<body>
<h1 id="greeting">Hello, {{placeholder "http.auth.user.name" | html}}!</h1>
<p>You signed in through stauth with the <strong id="provider">{{placeholder "http.auth.user.provider" | html}}</strong> provider.
This page is a file served by Caddy; Caddy's templates fill in the claims from the placeholders stauth sets.</p>
<table id="claims">
<tr><th>placeholder</th><th>value</th></tr>
{{- range $claim := list "id" "name" "given_name" "family_name" "preferred_username" "email" "email_verified" "locale" "is_logged_in"}}
<tr><th>{http.auth.user.{{$claim}}}</th><td data-claim="{{$claim}}">{{placeholder (printf "http.auth.user.%s" $claim) | html}}</td></tr>
{{- end}}
</table>
<p>All your claims, as JSON: <a href="/auth/user">/auth/user</a>.</p>
<form method="post" action="/auth/logout"><button type="submit" id="logout">Sign out</button></form>
</body>
</html>
`
