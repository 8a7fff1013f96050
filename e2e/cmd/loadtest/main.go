// Command loadtest measures what stauth costs a site under load: one Caddy
// serves the same `respond` twice, on one port plain and on another behind
// stauth, and wrk (a separate process) loads them in turn, interleaved over
// several rounds:
//
//   - plain Caddy, no cookie;
//   - plain Caddy, with the Cookie header of a logged-in browser;
//   - Caddy with stauth, with that same Cookie header;
//   - for reference, plain Caddy with a trivial middleware (vars) before the
//     respond, same Cookie: what any extra handler costs in a Caddy route;
//   - the README's recipe (recipe.go): reverse_proxy to an upstream with four
//     constant header_up lines, and the same behind stauth with the id,
//     email, name and groups placeholders, both with the Cookie of an
//     Entra-shaped session of -groups groups.
//
// The session cookie comes from a real login against the development OpenID
// provider (e2e/devop), so it has the size and contents a real one has.
// Sending plain Caddy the same Cookie header makes the ratio measure the
// gate, not the bytes; the no-cookie figure shows what the bytes cost.
//
// Run it from the repository root with `make bench`, or here with
//
//	go run ./cmd/loadtest [-rounds 3] [-duration 5s] [-caddy path/to/caddy]
//
// wrk must be installed (`apt-get install -y wrk`). By default Caddy runs in
// this process (wrk runs apart, and the provider is idle during the load);
// -caddy runs a Caddy binary built from the plugin's cmd/caddy instead.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/caddyserver/caddy/v2"

	_ "github.com/stauth/caddy-stauth"
	"github.com/stauth/caddy-stauth/e2e/devop"
	"github.com/stauth/caddy-stauth/internal/testcaddy"
)

// body is what both sites answer.
const body = "ok"

type options struct {
	rounds      int
	duration    time.Duration
	warmup      time.Duration
	connections int
	threads     int
	caddyBin    string
	wrk         string
	out         string
	minRatio    float64
	cpuProfile  string
	groups      int
}

func main() {
	var o options
	flag.IntVar(&o.rounds, "rounds", 3, "interleaved rounds; each runs every configuration once")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "length of each wrk run")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "length of the warm-up run of each configuration (not counted)")
	flag.IntVar(&o.connections, "connections", 32, "wrk -c: open connections")
	flag.IntVar(&o.threads, "threads", 2, "wrk -t: threads")
	flag.StringVar(&o.caddyBin, "caddy", "", "a Caddy binary with stauth (go build -o /tmp/caddy ./cmd/caddy); empty: Caddy in this process")
	flag.StringVar(&o.wrk, "wrk", "wrk", "the wrk command")
	flag.StringVar(&o.out, "out", "", "also write the summary to this file")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the measured rounds (Caddy in this process only) to this file")
	flag.Float64Var(&o.minRatio, "min-ratio", 0, "exit 1 when stauth/plain (same Cookie) or the recipe's ratio is below this; 0: never")
	flag.IntVar(&o.groups, "groups", 50, "groups in the recipe's Entra-shaped session")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

// config is one thing wrk loads.
type config struct {
	name   string
	url    string
	cookie string
}

func run(o options) error {
	wrkPath, err := exec.LookPath(o.wrk)
	if err != nil {
		return errors.New("wrk is not installed; install it with: apt-get install -y wrk")
	}
	dir, err := os.MkdirTemp("", "stauth-loadtest-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	testcaddy.Isolate(dir)

	ports, err := freePorts(8)
	if err != nil {
		return err
	}
	plainPort, authPort, varsPort := ports[0], ports[1], ports[4]
	plainURL := fmt.Sprintf("http://localhost:%d/", plainPort)
	authURL := fmt.Sprintf("http://localhost:%d/", authPort)
	varsURL := fmt.Sprintf("http://localhost:%d/", varsPort)
	redirectURI := fmt.Sprintf("http://localhost:%d/oauth2callback", authPort)

	op, err := devop.Start(devop.Options{RedirectURIs: []string{redirectURI}})
	if err != nil {
		return err
	}
	defer op.Close()
	recipeRedirect := fmt.Sprintf("http://localhost:%d/oauth2callback", ports[7])
	rec, err := startRecipeProvider(recipeRedirect, o.groups)
	if err != nil {
		return err
	}
	defer rec.op.Close()
	recipeSecrets := filepath.Join(dir, "recipe-secrets.toml")
	if err := writeSecrets(recipeSecrets, recipeRedirect, rec.op.ClientID, rec.op.ClientSecret, rec.op.MetadataURL); err != nil {
		return err
	}

	secretsPath := filepath.Join(dir, "secrets.toml")
	if err := writeSecrets(secretsPath, redirectURI, op.ClientID, op.ClientSecret, op.MetadataURL); err != nil {
		return err
	}
	caddyfile := testcaddy.Globals(dir, ports[2], ports[3]) + fmt.Sprintf(`
http://localhost:%d {
	route {
		respond %q
	}
}

http://localhost:%d {
	route {
		stauth %s
		respond %q
	}
}

http://localhost:%d {
	route {
		vars reference 1
		respond %q
	}
}
`, plainPort, body, authPort, secretsPath, body, varsPort, body) + rec.sites(ports[5], ports[6], ports[7], recipeSecrets)

	where := "in this process"
	if o.caddyBin == "" {
		if err := testcaddy.LoadErr(caddyfile); err != nil {
			return fmt.Errorf("starting Caddy: %w", err)
		}
		defer caddy.Stop()
	} else {
		stop, err := startCaddyProcess(o.caddyBin, dir, caddyfile, plainURL)
		if err != nil {
			return err
		}
		defer stop()
		where = "as a separate process (" + o.caddyBin + ")"
	}

	cookie, count, err := logIn(authURL)
	if err != nil {
		return err
	}
	if err := check(plainURL, authURL, varsURL, cookie); err != nil {
		return err
	}
	recipeCookie, recipeCount, err := rec.logIn()
	if err != nil {
		return err
	}
	if err := rec.check(recipeCookie); err != nil {
		return err
	}

	configs := []config{
		{name: "plain, no cookie", url: plainURL},
		{name: "plain, same Cookie", url: plainURL, cookie: cookie},
		{name: "stauth, Cookie", url: authURL, cookie: cookie},
		{name: "plain+vars, Cookie", url: varsURL, cookie: cookie},
		{name: "proxy, 4 constants", url: rec.plainURL, cookie: recipeCookie},
		{name: "stauth proxy, recipe", url: rec.authURL, cookie: recipeCookie},
	}
	var head strings.Builder
	fmt.Fprintf(&head, "stauth load test: wrk -t%d -c%d -d%s, %d rounds, configurations interleaved; Caddy %s, %d CPUs, %s\n",
		o.threads, o.connections, o.duration, o.rounds, where, runtime.NumCPU(), runtime.Version())
	fmt.Fprintf(&head, "session from a real login at the development provider: %d cookie(s), Cookie header %d bytes\n", count, len("Cookie: ")+len(cookie))
	fmt.Fprintf(&head, "recipe: reverse_proxy with id, email, name, groups header_up; Entra-shaped session of %d groups: %d cookie(s), Cookie header %d bytes\n\n", o.groups, recipeCount, len("Cookie: ")+len(recipeCookie))
	if load := loadAverage(); load > 1 {
		fmt.Fprintf(&head, "warning: the machine was busy before the test (load average %.2f): expect noisy figures\n", load)
	}
	fmt.Print(head.String())

	for _, c := range configs {
		if _, err := runWrk(wrkPath, o, c, o.warmup); err != nil {
			return err
		}
	}
	if o.cpuProfile != "" && o.caddyBin == "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	results := make([][]float64, len(configs)) // [config][round]
	for r := range o.rounds {
		for k := range configs {
			i := (k + r) % len(configs) // rotate the order, so none always goes first
			rps, err := runWrk(wrkPath, o, configs[i], o.duration)
			if err != nil {
				return err
			}
			results[i] = append(results[i], rps)
		}
		fmt.Printf("round %d: %s\n", r+1, roundLine(configs, results, r))
	}

	summary := head.String() + table(configs, results, o.rounds)
	fmt.Print("\n" + table(configs, results, o.rounds))
	if o.out != "" {
		if err := os.MkdirAll(filepath.Dir(o.out), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(o.out, []byte(summary), 0o644); err != nil {
			return err
		}
	}
	if ratio := median(ratios(results[2], results[1])); o.minRatio > 0 && ratio < o.minRatio {
		return fmt.Errorf("stauth/plain with the same Cookie is %.3f, below %.3f", ratio, o.minRatio)
	}
	if ratio := median(ratios(results[5], results[4])); o.minRatio > 0 && ratio < o.minRatio {
		return fmt.Errorf("the recipe behind stauth / with constant headers is %.3f, below %.3f", ratio, o.minRatio)
	}
	return nil
}

func roundLine(configs []config, results [][]float64, r int) string {
	var parts []string
	for i, c := range configs {
		parts = append(parts, fmt.Sprintf("%s %.0f req/s", c.name, results[i][r]))
	}
	return strings.Join(parts, " | ") + fmt.Sprintf(" | ratio %.3f | recipe ratio %.3f", results[2][r]/results[1][r], results[5][r]/results[4][r])
}

// table prints the per-round figures, their medians and the ratios. Each
// ratio is taken within a round (the machine's state drifts between rounds)
// and the median of those is reported.
func table(configs []config, results [][]float64, rounds int) string {
	const plain, plainCookie, stauth, vars, proxy, recipe = 0, 1, 2, 3, 4, 5
	var b strings.Builder
	fmt.Fprintf(&b, "%-7s", "round")
	for _, c := range configs {
		fmt.Fprintf(&b, " %20s", c.name)
	}
	fmt.Fprintf(&b, " %13s %13s\n", "stauth/plain", "recipe ratio")
	row := func(label string, v func(i int) float64, ratio, recipeRatio float64) {
		fmt.Fprintf(&b, "%-7s", label)
		for i := range configs {
			fmt.Fprintf(&b, " %16.0f r/s", v(i))
		}
		fmt.Fprintf(&b, " %13.3f %13.3f\n", ratio, recipeRatio)
	}
	for r := range rounds {
		row(strconv.Itoa(r+1), func(i int) float64 { return results[i][r] }, results[stauth][r]/results[plainCookie][r], results[recipe][r]/results[proxy][r])
	}
	gate := ratios(results[stauth], results[plainCookie])
	recipeGate := ratios(results[recipe], results[proxy])
	row("median", func(i int) float64 { return median(results[i]) }, median(gate), median(recipeGate))
	b.WriteString("\n")
	fmt.Fprintf(&b, "stauth / plain, same Cookie header:     %.3f  (the gate's cost; target >= 0.95; rounds %.3f..%.3f)\n", median(gate), slices.Min(gate), slices.Max(gate))
	fmt.Fprintf(&b, "plain with Cookie / plain without:      %.3f  (what the cookie's bytes alone cost)\n", median(ratios(results[plainCookie], results[plain])))
	fmt.Fprintf(&b, "stauth with Cookie / plain without:     %.3f  (all of it)\n", median(ratios(results[stauth], results[plain])))
	fmt.Fprintf(&b, "plain+vars / plain, same Cookie header: %.3f  (reference: one trivial middleware in the route)\n", median(ratios(results[vars], results[plainCookie])))
	fmt.Fprintf(&b, "stauth / plain+vars, same Cookie:       %.3f  (stauth beyond what any middleware costs)\n", median(ratios(results[stauth], results[vars])))
	fmt.Fprintf(&b, "recipe: stauth + 4 placeholders / 4 constant headers, same Cookie: %.3f  (target >= 0.95; rounds %.3f..%.3f)\n", median(recipeGate), slices.Min(recipeGate), slices.Max(recipeGate))
	return b.String()
}

func ratios(a, b []float64) []float64 {
	out := make([]float64, len(a))
	for i := range a {
		out[i] = a[i] / b[i]
	}
	return out
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

var (
	rpsLine    = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	non2xxLine = regexp.MustCompile(`Non-2xx or 3xx responses:\s+(\d+)`)
	errorsLine = regexp.MustCompile(`Socket errors:.*`)
)

// runWrk loads one configuration and returns its requests per second. Any
// response other than 2xx fails: the load test must not measure 401s.
func runWrk(wrkPath string, o options, c config, d time.Duration) (float64, error) {
	args := []string{"-t" + strconv.Itoa(o.threads), "-c" + strconv.Itoa(o.connections), "-d" + strconv.Itoa(int(d.Seconds())) + "s"}
	if c.cookie != "" {
		args = append(args, "-H", "Cookie: "+c.cookie)
	}
	args = append(args, c.url)
	out, err := exec.Command(wrkPath, args...).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("wrk %s: %v\n%s", c.name, err, out)
	}
	if m := non2xxLine.FindSubmatch(out); m != nil {
		return 0, fmt.Errorf("wrk %s: %s responses were not 2xx: the session did not open\n%s", c.name, m[1], out)
	}
	if m := errorsLine.Find(out); m != nil {
		return 0, fmt.Errorf("wrk %s: %s\n%s", c.name, m, out)
	}
	m := rpsLine.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("wrk %s: no Requests/sec in its output:\n%s", c.name, out)
	}
	return strconv.ParseFloat(string(m[1]), 64)
}

// logIn logs the demo user in through stauth and the development provider
// and returns the Cookie header of the session and its number of cookies.
func logIn(siteURL string) (string, int, error) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return "", 0, err
	}
	client := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	resp, page, err := devop.LogIn(client, siteURL, devop.DemoUser.Username, devop.DemoUser.Password)
	if err != nil {
		return "", 0, fmt.Errorf("login: %w", err)
	}
	if resp.StatusCode != http.StatusOK || string(page) != body {
		return "", 0, fmt.Errorf("login ended with %s: %q", resp.Status, page)
	}
	u, _ := resp.Request.URL.Parse(siteURL)
	return sessionCookieHeader(jar, u)
}

// sessionCookieHeader is the Cookie header of the session cookies jar holds
// for u, and how many there are.
func sessionCookieHeader(jar http.CookieJar, u *url.URL) (string, int, error) {
	var pairs []string
	for _, c := range jar.Cookies(u) {
		if strings.HasPrefix(c.Name, "stauth_session") {
			pairs = append(pairs, c.Name+"="+c.Value)
		}
	}
	if len(pairs) == 0 {
		return "", 0, errors.New("the login set no session cookie")
	}
	return strings.Join(pairs, "; "), len(pairs), nil
}

// check makes sure each configuration answers what the load test expects:
// the session opens, and without it stauth refuses.
func check(plainURL, authURL, varsURL, cookie string) error {
	for _, c := range []struct {
		url, cookie string
		status      int
	}{
		{plainURL, "", http.StatusOK},
		{plainURL, cookie, http.StatusOK},
		{authURL, cookie, http.StatusOK},
		{authURL, "", http.StatusUnauthorized},
		{varsURL, cookie, http.StatusOK},
	} {
		req, _ := http.NewRequest(http.MethodGet, c.url, nil)
		if c.cookie != "" {
			req.Header.Set("Cookie", c.cookie)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status || (c.status == http.StatusOK && string(got) != body) {
			return fmt.Errorf("GET %s (cookie %v): %s %q, want %d", c.url, c.cookie != "", resp.Status, got, c.status)
		}
	}
	return nil
}

// startCaddyProcess runs `caddy run` on the Caddyfile and waits until it
// answers; stop ends it.
func startCaddyProcess(bin, dir, caddyfile, probeURL string) (stop func(), err error) {
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(caddyfile), 0o600); err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(dir, "caddy.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "run", "--config", path, "--adapter", "caddyfile")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	stop = func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		logFile.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		if resp, err := http.Get(probeURL); err == nil {
			resp.Body.Close()
			return stop, nil
		}
		select {
		case <-done:
			log, _ := os.ReadFile(logFile.Name())
			return nil, fmt.Errorf("caddy exited:\n%s", log)
		case <-ctx.Done():
			stop()
			return nil, errors.New("caddy did not start in 30s")
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// freePorts returns n distinct free ports (see testcaddy.Port).
func freePorts(n int) ([]int, error) {
	ports := make([]int, n)
	for i := range ports {
		port, err := testcaddy.Port()
		if err != nil {
			return nil, err
		}
		ports[i] = port
	}
	return ports, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// loadAverage is the one-minute load average, 0 when unknown.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f, _ := strconv.ParseFloat(strings.Fields(string(b) + " 0")[0], 64)
	return f
}

// writeSecrets writes a secrets.toml for one provider, with a fresh
// cookie_secret.
func writeSecrets(path, redirectURI, clientID, clientSecret, metadataURL string) error {
	return os.WriteFile(path, []byte(fmt.Sprintf(`[auth]
redirect_uri = %q
cookie_secret = %q
client_id = %q
client_secret = %q
server_metadata_url = %q
`, redirectURI, randomHex(32), clientID, clientSecret, metadataURL)), 0o600)
}
