// Package hydraop runs ORY Hydra v2, an OpenID Certified provider, as a
// child process for the end-to-end tests: `hydra serve all --dev` on an
// in-memory database, with a small login, consent and logout app of this
// package that accepts every challenge for one user through Hydra's admin
// API, and one confidential client. It is for tests only: everything lives
// in memory and the provider speaks plain http on 127.0.0.1.
package hydraop

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/stauth/caddy-stauth/e2e/internal/goenv"
	"github.com/stauth/caddy-stauth/internal/testcaddy"
)

// User is the account the login app signs in; its claims go into the ID
// token through the consent app.
type User struct {
	// Subject is the sub claim.
	Subject string
	// Email is the email claim (sent with email_verified true); Name the
	// name claim.
	Email, Name string
	// Groups is the groups claim.
	Groups []string
}

// DemoUser is the account the tests log in with.
var DemoUser = User{
	Subject: "hydra-demo-1",
	Email:   "hydra-demo@example.com",
	Name:    "Hydra Demo",
	Groups:  []string{"staff", "admins"},
}

// Options configure a Hydra provider.
type Options struct {
	// PublicPort and AdminPort are Hydra's ports on 127.0.0.1; zero picks
	// free ones.
	PublicPort, AdminPort int
	// TrailingSlash makes the issuer http://127.0.0.1:PORT/ instead of
	// http://127.0.0.1:PORT; Hydra publishes it exactly as configured.
	TrailingSlash bool
	// ClientID and ClientSecret name the one confidential client; default
	// "stauth" and "stauth-hydra-secret".
	ClientID, ClientSecret string
	// RedirectURIs are the client's registered redirect URIs; they are also
	// its post-logout redirect URIs.
	RedirectURIs []string
	// User is the account the login app signs in; default DemoUser.
	User User
	// AccessTokenTTL, when set, is the access tokens' lifetime (Hydra's
	// default is an hour), to exercise refresh.
	AccessTokenTTL time.Duration
	// Log, when set, receives Hydra's output; by default it is discarded.
	Log io.Writer
}

// Provider is a running Hydra and its login, consent and logout app.
type Provider struct {
	// Issuer is Hydra's issuer, with or without the trailing slash as
	// Options.TrailingSlash asked.
	Issuer string
	// MetadataURL is the discovery document's URL, for server_metadata_url.
	MetadataURL string
	// AdminURL is the base URL of Hydra's admin API.
	AdminURL string
	// ClientID and ClientSecret are the client's credentials.
	ClientID, ClientSecret string
	// User is the account the login app signs in.
	User User

	logins, remembered, consents, logouts atomic.Int64

	app  *http.Server
	cmd  *exec.Cmd
	done chan struct{} // closed when Hydra has exited
}

// Start runs Hydra (see Binary) and the login app until Close, and creates
// the client. It returns once Hydra is ready.
func Start(o Options) (*Provider, error) {
	if o.ClientID == "" {
		o.ClientID = "stauth"
	}
	if o.ClientSecret == "" {
		o.ClientSecret = "stauth-hydra-secret"
	}
	if o.User.Subject == "" {
		o.User = DemoUser
	}
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	for _, port := range []*int{&o.PublicPort, &o.AdminPort} {
		if *port == 0 {
			if *port, err = testcaddy.Port(); err != nil {
				return nil, fmt.Errorf("hydraop: %w", err)
			}
		}
	}
	issuer := fmt.Sprintf("http://127.0.0.1:%d", o.PublicPort)
	p := &Provider{
		Issuer:       issuer,
		MetadataURL:  issuer + "/.well-known/openid-configuration",
		AdminURL:     fmt.Sprintf("http://127.0.0.1:%d", o.AdminPort),
		ClientID:     o.ClientID,
		ClientSecret: o.ClientSecret,
		User:         o.User,
		done:         make(chan struct{}),
	}
	if o.TrailingSlash {
		p.Issuer += "/"
	}

	// The login app is this process's own server, bound before Hydra learns
	// its address.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("hydraop: %w", err)
	}
	appURL := "http://" + ln.Addr().String()
	p.app = &http.Server{Handler: p.appHandler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.app.Serve(ln) }()

	env := append(os.Environ(),
		"DSN=memory",
		"URLS_SELF_ISSUER="+p.Issuer,
		"URLS_LOGIN="+appURL+"/login",
		"URLS_CONSENT="+appURL+"/consent",
		"URLS_LOGOUT="+appURL+"/logout",
		"URLS_POST_LOGOUT_REDIRECT="+appURL+"/logged-out",
		"SERVE_PUBLIC_HOST=127.0.0.1",
		"SERVE_PUBLIC_PORT="+strconv.Itoa(o.PublicPort),
		"SERVE_ADMIN_HOST=127.0.0.1",
		"SERVE_ADMIN_PORT="+strconv.Itoa(o.AdminPort),
		"SECRETS_SYSTEM=stauth-e2e-hydra-system-secret-0123456789",
		"LOG_LEVEL=warn",
	)
	if o.AccessTokenTTL > 0 {
		env = append(env, "TTL_ACCESS_TOKEN="+o.AccessTokenTTL.String())
	}
	// --sqa-opt-out: Hydra would otherwise send telemetry to ory.sh.
	p.cmd = exec.Command(bin, "serve", "all", "--dev", "--sqa-opt-out")
	p.cmd.Env = env
	dieWithParent(p.cmd)
	p.cmd.Stdout, p.cmd.Stderr = io.Discard, io.Discard
	if o.Log != nil {
		p.cmd.Stdout, p.cmd.Stderr = o.Log, o.Log
	}
	if err := p.cmd.Start(); err != nil {
		p.app.Close()
		return nil, fmt.Errorf("hydraop: starting %s: %w", bin, err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	if err := p.waitReady(60 * time.Second); err != nil {
		p.Close()
		return nil, err
	}
	if err := p.createClient(o.RedirectURIs); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// waitReady polls Hydra's public and admin readiness endpoints until both
// answer 200, Hydra exits, or the timeout passes.
func (p *Provider) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	client := &http.Client{Timeout: 2 * time.Second}
	for _, base := range []string{strings.TrimSuffix(p.Issuer, "/"), p.AdminURL} {
		for {
			resp, err := client.Get(base + "/health/ready")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("hydraop: %s/health/ready not ready after %s", base, timeout)
			}
			select {
			case <-p.done:
				return fmt.Errorf("hydraop: hydra exited before it was ready (%v); pass Options.Log to see why", p.cmd.ProcessState)
			case <-tick.C:
			}
		}
	}
	return nil
}

// createClient registers the confidential client through the admin API.
func (p *Provider) createClient(redirectURIs []string) error {
	if redirectURIs == nil {
		redirectURIs = []string{}
	}
	var created struct {
		ClientID string `json:"client_id"`
	}
	err := p.admin(http.MethodPost, "/admin/clients", map[string]any{
		"client_id":                  p.ClientID,
		"client_secret":              p.ClientSecret,
		"client_name":                "stauth end-to-end tests",
		"grant_types":                []string{"authorization_code", "refresh_token"},
		"response_types":             []string{"code"},
		"scope":                      "openid profile email offline_access",
		"redirect_uris":              redirectURIs,
		"post_logout_redirect_uris":  redirectURIs,
		"token_endpoint_auth_method": "client_secret_basic",
	}, &created)
	if err != nil {
		return fmt.Errorf("hydraop: creating the client: %w", err)
	}
	if created.ClientID != p.ClientID {
		return fmt.Errorf("hydraop: hydra created client %q, want %q", created.ClientID, p.ClientID)
	}
	return nil
}

// admin calls Hydra's admin API with a JSON body (nil for none) and decodes
// the JSON answer into out (nil to ignore it).
func (p *Provider) admin(method, path string, body, out any) error {
	var reader io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		reader = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, p.AdminURL+path, reader)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return p.do(req, out)
}

// do sends an admin API request and decodes its JSON answer into out.
func (p *Provider) do(req *http.Request, out any) error {
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", req.Method, req.URL.Path, resp.Status, bytes.TrimSpace(b))
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}

// Introspection is what Hydra's admin introspection endpoint tells about a
// token.
type Introspection struct {
	Active   bool   `json:"active"`
	Subject  string `json:"sub"`
	ClientID string `json:"client_id"`
	Expiry   int64  `json:"exp"`
}

// Introspect asks Hydra's admin API about an access or refresh token.
func (p *Provider) Introspect(token string) (Introspection, error) {
	req, err := http.NewRequest(http.MethodPost, p.AdminURL+"/admin/oauth2/introspect", strings.NewReader(url.Values{"token": {token}}.Encode()))
	if err != nil {
		return Introspection{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	var in Introspection
	if err := p.do(req, &in); err != nil {
		return Introspection{}, fmt.Errorf("hydraop: introspection: %w", err)
	}
	return in, nil
}

// RevokeGrants revokes every consent of the user and, with them, every
// access and refresh token Hydra issued to the user.
func (p *Provider) RevokeGrants() error {
	q := url.Values{"subject": {p.User.Subject}, "all": {"true"}}
	if err := p.admin(http.MethodDelete, "/admin/oauth2/auth/sessions/consent?"+q.Encode(), nil, nil); err != nil {
		return fmt.Errorf("hydraop: revoking the grants: %w", err)
	}
	return nil
}

// Discovery fetches Hydra's discovery document, each member's value as raw
// JSON.
func (p *Provider) Discovery() (map[string]json.RawMessage, error) {
	req, err := http.NewRequest(http.MethodGet, p.MetadataURL, nil)
	if err != nil {
		return nil, err
	}
	var doc map[string]json.RawMessage
	if err := p.do(req, &doc); err != nil {
		return nil, fmt.Errorf("hydraop: discovery: %w", err)
	}
	return doc, nil
}

// Logins counts the login challenges the app accepted.
func (p *Provider) Logins() int64 { return p.logins.Load() }

// RememberedLogins counts the accepted login challenges for which Hydra
// still held the user's login session (it asked with skip true).
func (p *Provider) RememberedLogins() int64 { return p.remembered.Load() }

// Consents counts the consent challenges the app accepted.
func (p *Provider) Consents() int64 { return p.consents.Load() }

// Logouts counts the logout challenges the app accepted.
func (p *Provider) Logouts() int64 { return p.logouts.Load() }

// Close stops Hydra (SIGTERM, then SIGKILL after 10 seconds) and the app.
func (p *Provider) Close() error {
	if p.cmd.Process != nil {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	return p.app.Close()
}

// LogIn signs in the way a browser without JavaScript would: it opens
// startURL (a protected page or stauth's login path) and follows the
// redirects through Hydra and the login and consent app, which accept at
// once, back to the site. It returns the last response, whose body has been
// read into body, or an error naming the path the browser took (hosts and
// paths only: the queries carry codes and challenges). client needs a
// cookie jar.
func (p *Provider) LogIn(client *http.Client, startURL string) (resp *http.Response, body []byte, err error) {
	var path []string
	c := *client
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		path = append(path, req.URL.Host+req.URL.Path)
		if len(via) >= 20 {
			return errors.New("stopped after 20 redirects")
		}
		return nil
	}
	logins := p.Logins()
	req, err := http.NewRequest(http.MethodGet, startURL, nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	resp, err = c.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("hydraop: login by way of %v: %w", path, err)
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, err
	}
	if p.Logins() == logins {
		return resp, body, fmt.Errorf("hydraop: the login never reached the login app; the browser went %v and ended with %s: %s", path, resp.Status, body)
	}
	return resp, body, nil
}

// Binary returns the path of the hydra executable: $HYDRA_BIN when set,
// else one built once per process with `go build -tags sqlite` from the
// e2e/tools/hydra module (which pins Hydra as a tool) into the user cache
// directory, which the e2e TestMain points at a temp dir.
func Binary() (string, error) {
	if bin := os.Getenv("HYDRA_BIN"); bin != "" {
		return bin, nil
	}
	build.Do(func() { build.path, build.err = buildHydra() })
	return build.path, build.err
}

var build struct {
	sync.Once
	path string
	err  error
}

// buildHydra builds Hydra into the user cache directory.
func buildHydra() (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "stauth-e2e-hydra")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("hydraop: %w", err)
	}
	bin := filepath.Join(dir, "hydra")
	moduleDir, err := toolModuleDir()
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	args := []string{"build", "-tags", "sqlite", "-o", bin, "github.com/ory/hydra/v2"}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = moduleDir
	cmd.Env = goenv.Env()
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("hydraop: go %s in %s (set HYDRA_BIN to use a prebuilt hydra): %v\n%s", strings.Join(args, " "), moduleDir, err, out)
	}
	return bin, nil
}

// toolModuleDir finds the e2e/tools/hydra module from the working directory
// (a test's package directory, somewhere under e2e/).
func toolModuleDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		for _, rel := range []string{"tools/hydra", "e2e/tools/hydra"} {
			if _, err := os.Stat(filepath.Join(dir, rel, "go.mod")); err == nil {
				return filepath.Join(dir, rel), nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("hydraop: no e2e/tools/hydra module at or above the working directory; set HYDRA_BIN to a hydra binary")
		}
		dir = parent
	}
}
