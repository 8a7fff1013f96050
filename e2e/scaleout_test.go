package e2e

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stauth/caddy-stauth/e2e/devop"
	"github.com/stauth/caddy-stauth/internal/testcaddy"
)

// TestScaleOutAndReload runs two real Caddy processes (the repository's
// cmd/caddy) sharing one secrets.toml behind a load balancer, the way a site
// scales out: one public origin, so one redirect_uri. stauth keeps no state
// in memory, so:
//   - a login that starts on instance A (GET /auth/login sets the sealed
//     login cookie) and whose callback the balancer hands to instance B
//     succeeds, and the session then passes on both;
//   - `caddy reload --config` of A keeps the session (the same cookie
//     passes, unchanged, under the new config), and a login begun before
//     the reload finishes after it.
func TestScaleOutAndReload(t *testing.T) {
	bin := buildCaddy(t)
	lbPort, portA, portB, adminA := testcaddy.FreePort(t), testcaddy.FreePort(t), testcaddy.FreePort(t), testcaddy.FreePort(t)
	lbURL := fmt.Sprintf("http://localhost:%d", lbPort)
	op := startProvider(t, lbPort, devop.Options{}) // redirect_uri: the balancer's /oauth2callback
	secrets := writeSecrets(t, lbPort, op.MetadataURL, "")
	storageA, storageB := t.TempDir(), t.TempDir()
	caddyfileA := func(version int) string { return processCaddyfile(storageA, portA, adminA, secrets, "A", version) }

	a := startCaddy(t, bin, "A", caddyfileA(1))
	startCaddy(t, bin, "B", processCaddyfile(storageB, portB, 0, secrets, "B", 1))
	lb := startBalancer(t, lbPort, map[string]int{"A": portA, "B": portB})
	lb.setRoute(func(r *http.Request) string {
		if r.URL.Path == "/oauth2callback" {
			return "B"
		}
		return "A"
	})

	// A login that starts on A and finishes on B.
	client := browser(t)
	resp, body, err := devop.LogIn(client, lbURL+"/page?q=1", devop.DemoUser.Username, devop.DemoUser.Password)
	if err != nil {
		t.Fatal(err)
	}
	if want := "instance=A version=1 id=demo-user-1 email=demo@example.com"; resp.StatusCode != http.StatusOK || string(body) != want {
		t.Fatalf("after the login: %s %q, want %q", resp.Status, body, want)
	}
	if got := lb.servedBy("/auth/login"); !slices.Equal(got, []string{"A"}) {
		t.Fatalf("the login was started by %v, want A", got)
	}
	if got := lb.servedBy("/oauth2callback"); !slices.Equal(got, []string{"B"}) {
		t.Fatalf("the callback was served by %v, want B", got)
	}
	if got := lb.servedBy("/page"); !slices.Equal(got, []string{"A", "A"}) {
		t.Fatalf("the page was served by %v, want A (before and after the login)", got)
	}
	for name, port := range map[string]int{"A": portA, "B": portB} {
		resp, body := fetch(t, client, fmt.Sprintf("http://localhost:%d/page", port), "text/html")
		if want := "instance=" + name + " version=1 id=demo-user-1 email=demo@example.com"; resp.StatusCode != http.StatusOK || body != want {
			t.Fatalf("instance %s with the session: %s %q, want %q", name, resp.Status, body, want)
		}
	}
	session := sessionCookieValue(t, client, lbURL)

	// A login in flight while A reloads; the first user stays logged in.
	lb.setRoute(func(*http.Request) string { return "A" })
	second := browser(t)
	loginPage := startDevopLogin(t, second, lbURL+"/report")

	a.reload(t, caddyfileA(2))

	resp, body2 := fetch(t, client, fmt.Sprintf("http://localhost:%d/page", portA), "text/html")
	if want := "instance=A version=2 id=demo-user-1 email=demo@example.com"; resp.StatusCode != http.StatusOK || body2 != want {
		t.Fatalf("after the reload the session got %s %q, want %q", resp.Status, body2, want)
	}
	if len(resp.Cookies()) != 0 || sessionCookieValue(t, client, lbURL) != session {
		t.Fatalf("the reload changed the session cookie: %v", resp.Header["Set-Cookie"])
	}
	resp, raw3, err := devop.SubmitLogin(second, loginPage, devop.DemoUser.Username, devop.DemoUser.Password)
	if err != nil {
		t.Fatal(err)
	}
	body3 := string(raw3)
	if want := "instance=A version=2 id=demo-user-1 email=demo@example.com"; resp.StatusCode != http.StatusOK || body3 != want || resp.Request.URL.Path != "/report" {
		t.Fatalf("the login begun before the reload ended at %s with %s %q, want %q", resp.Request.URL, resp.Status, body3, want)
	}
}

// sessionCookieValue is the value of the one stauth session cookie the
// client holds for base.
func sessionCookieValue(t *testing.T, client *http.Client, base string) string {
	t.Helper()
	var values []string
	for _, c := range client.Jar.Cookies(mustURL(t, base)) {
		if c.Name == "stauth_session" {
			values = append(values, c.Value)
		}
	}
	if len(values) != 1 {
		t.Fatalf("the client holds %d session cookies, want 1", len(values))
	}
	return values[0]
}

// startDevopLogin opens startURL and follows the redirects to the
// development provider's login page, whose URL it returns.
func startDevopLogin(t *testing.T, client *http.Client, startURL string) *url.URL {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, startURL, nil)
	req.Header.Set("Accept", "text/html")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Request.URL.Path != "/login/username" || resp.Request.URL.Query().Get("authRequestID") == "" {
		t.Fatalf("%s led to %s (%s), not to the login page", startURL, resp.Request.URL, resp.Status)
	}
	return resp.Request.URL
}

// balancer is a reverse proxy in front of several Caddy processes, as a load
// balancer is in production: one origin, the Host header kept. A route func
// picks each request's backend; the balancer records who served what.
type balancer struct {
	mu       sync.Mutex
	route    func(*http.Request) string
	backends map[string]*url.URL
	served   map[string][]string // path: backend names, in order
}

// startBalancer listens on localhost:port until the test ends.
func startBalancer(t *testing.T, port int, backends map[string]int) *balancer {
	t.Helper()
	lb := &balancer{backends: map[string]*url.URL{}, served: map[string][]string{}}
	for name, p := range backends {
		lb.backends[name] = &url.URL{Scheme: "http", Host: fmt.Sprintf("localhost:%d", p)}
	}
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		lb.mu.Lock()
		name := lb.route(r.In)
		lb.served[r.In.URL.Path] = append(lb.served[r.In.URL.Path], name)
		lb.mu.Unlock()
		r.SetURL(lb.backends[name])
		r.Out.Host = r.In.Host
	}}
	ln, err := net.Listen("tcp", fmt.Sprintf("localhost:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: proxy, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return lb
}

func (lb *balancer) setRoute(route func(*http.Request) string) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	lb.route = route
}

// servedBy lists the backends that served path, in order.
func (lb *balancer) servedBy(path string) []string {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	return slices.Clone(lb.served[path])
}
