package e2e

// The browser harness: Debian's Chromium driven by chromedp, one fresh
// profile per test, bounded waits, and a screenshot and the HTML of every
// open tab saved under artifacts/<TestName>/ when a test fails.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// stepTimeout bounds every browser step: a navigation, a wait for an
// element, a click.
const stepTimeout = 20 * time.Second

// chromiumPath finds Chromium for a browser test. STAUTH_SKIP_BROWSER=1
// skips the test, saying so; otherwise a missing Chromium fails it with a
// message saying how to install it: a browser test never passes unrun.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if os.Getenv("STAUTH_SKIP_BROWSER") == "1" {
		t.Skip("STAUTH_SKIP_BROWSER=1: browser test skipped")
	}
	path, problem := locateChromium(os.Getenv("CHROMIUM_PATH"), defaultChromium)
	if problem != "" {
		t.Fatal(problem)
	}
	return path
}

// defaultChromium is where Debian's chromium package puts the browser.
var defaultChromium = "/usr/bin/chromium"

// locateChromium returns $CHROMIUM_PATH (which must then exist), else
// defaultPath, else chromium or chromium-browser on PATH; or, when there is
// none, what to do about it.
func locateChromium(envPath, defaultPath string) (path, problem string) {
	const how = "install it with `apt-get install -y chromium` (Debian, Ubuntu), or set CHROMIUM_PATH to a Chromium or Chrome binary; " +
		"to skip the browser tests on purpose, set STAUTH_SKIP_BROWSER=1"
	if envPath != "" {
		if isExecutable(envPath) {
			return envPath, ""
		}
		return "", "CHROMIUM_PATH=" + envPath + " is not an executable file: " + how
	}
	if isExecutable(defaultPath) {
		return defaultPath, ""
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, ""
		}
	}
	return "", "the browser tests need Chromium, which is not at " + defaultPath + " nor on PATH: " + how
}

func isExecutable(path string) bool {
	info, err := os.Stat(path)
	return err == nil && !info.IsDir() && info.Mode()&0o111 != 0
}

// chrome is one headless Chromium with a fresh profile.
type chrome struct {
	t    *testing.T
	ctx  context.Context // the browser's first tab; it owns the process
	tabs []*tab
}

// newChrome starts Chromium for the test; it stops when the test ends.
// extraFlags are added to the command line, such as
// "ignore-certificate-errors". Start it after the servers the test uses, so
// that it stops before them: a server's graceful shutdown waits up to 5 s
// for the connections Chromium opens ahead of time. (A test calls
// chromiumPath first, to skip or fail before starting anything.)
func newChrome(t *testing.T, extraFlags ...string) *chrome {
	t.Helper()
	flags := map[string]string{}
	for _, f := range extraFlags {
		flags[f] = ""
	}
	return newChromeFlags(t, flags)
}

// newChromeFlags is newChrome with flags that take values ("" for none).
func newChromeFlags(t *testing.T, extraFlags map[string]string) *chrome {
	t.Helper()
	exe := chromiumPath(t)
	dir := t.TempDir()
	for _, sub := range []string{"profile", "home", "tmp"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(filepath.Join(dir, "profile")),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("window-size", "1000,800"),
		chromedp.Env("HOME="+filepath.Join(dir, "home"), "TMPDIR="+filepath.Join(dir, "tmp")),
	}
	for name, value := range extraFlags {
		if value == "" {
			opts = append(opts, chromedp.Flag(name, true))
		} else {
			opts = append(opts, chromedp.Flag(name, value))
		}
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	c := &chrome{t: t, ctx: ctx}
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// The first Run starts the browser; it must have no deadline, or the
	// deadline would end the browser too. A start that hangs is caught by
	// the allocator's own timeout for reading the DevTools address.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting Chromium (%s): %v", exe, err)
	}
	// Saved before the browser stops (cleanups run last-in, first-out).
	t.Cleanup(c.saveArtifacts)
	return c
}

// tab is one browser tab.
type tab struct {
	c    *chrome
	name string
	ctx  context.Context
}

// tab opens a new tab in the browser (the first call uses the first tab).
func (c *chrome) tab(name string) *tab {
	c.t.Helper()
	ctx := c.ctx
	if len(c.tabs) > 0 {
		var cancel context.CancelFunc
		ctx, cancel = chromedp.NewContext(c.ctx)
		c.t.Cleanup(cancel)
		if err := chromedp.Do(ctx); err != nil {
			c.t.Fatalf("opening tab %s: %v", name, err)
		}
	}
	b := &tab{c: c, name: name, ctx: ctx}
	c.tabs = append(c.tabs, b)
	return b
}

// do runs the steps, each within stepTimeout; a failure ends the test
// (after saving the artifacts).
func (b *tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.c.t.Helper()
	for _, step := range steps {
		ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
		_, err := chromedp.Run(ctx, step)
		cancel()
		if err != nil {
			b.c.t.Fatalf("%s: %s: %v (at %s)", b.name, what, err, b.location())
		}
	}
}

// run runs one action that returns a value, within stepTimeout.
func run[T any](b *tab, what string, a chromedp.Action[T]) T {
	b.c.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.c.t.Fatalf("%s: %s: %v (at %s)", b.name, what, err, b.location())
	}
	return v
}

// location is the tab's URL, for messages; it never fails the test.
func (b *tab) location() string {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return "unknown URL: " + err.Error()
	}
	return loc
}

// open navigates to url and waits until the element sel is visible.
func (b *tab) open(url string, sel chromedp.CSS) {
	b.c.t.Helper()
	b.do("opening "+url, chromedp.Navigate(url), chromedp.WaitVisible(sel))
}

// waitFor waits until the element sel is visible, across navigations.
func (b *tab) waitFor(sel chromedp.CSS) {
	b.c.t.Helper()
	b.do("waiting for "+string(sel), chromedp.WaitVisible(sel))
}

// click clicks the element sel (waiting until it is visible).
func (b *tab) click(sel chromedp.CSS) {
	b.c.t.Helper()
	b.do("clicking "+string(sel), chromedp.Click(sel, chromedp.NodeVisible))
}

// clickNavigate clicks the element sel and waits until the page it leads
// to has loaded (after any redirects), whose response it returns.
func (b *tab) clickNavigate(sel chromedp.CSS) *network.Response {
	b.c.t.Helper()
	return b.response("clicking "+string(sel), chromedp.WaitVisible(sel), chromedp.Click(sel))
}

// navigate opens url and returns the response of the page it leads to
// (after any redirects).
func (b *tab) navigate(url string) *network.Response {
	b.c.t.Helper()
	return b.response("opening "+url, chromedp.Navigate(url))
}

// response runs steps that end with a navigation and returns the response
// of the main document.
func (b *tab) response(what string, steps ...chromedp.Action[chromedp.Void]) *network.Response {
	b.c.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, steps...)
	if err != nil {
		b.c.t.Fatalf("%s: %s: %v (at %s)", b.name, what, err, b.location())
	}
	if resp == nil {
		b.c.t.Fatalf("%s: %s led to no page (at %s)", b.name, what, b.location())
	}
	return resp
}

// fill types value into the empty field sel, as a person would.
func (b *tab) fill(sel chromedp.CSS, value string) {
	b.c.t.Helper()
	b.do("filling "+string(sel), chromedp.WaitVisible(sel), chromedp.SendKeys(sel, value))
	if got := run(b, "reading "+string(sel), chromedp.Value(sel)); got != value {
		b.c.t.Fatalf("%s: the field %s holds %q after typing %q", b.name, sel, got, value)
	}
}

// text is the visible text of the element sel.
func (b *tab) text(sel chromedp.CSS) string {
	b.c.t.Helper()
	return strings.TrimSpace(run(b, "reading "+string(sel), chromedp.Text(sel, chromedp.NodeVisible)))
}

// url is the tab's current URL.
func (b *tab) url() string {
	b.c.t.Helper()
	return run(b, "reading the URL", chromedp.Location())
}

// reload reloads the page and waits until sel is visible again.
func (b *tab) reload(sel chromedp.CSS) {
	b.c.t.Helper()
	b.do("reloading", chromedp.Reload(), chromedp.WaitVisible(sel))
}

// cookies lists the cookies the browser would send to url.
func (b *tab) cookies(url string) []*network.Cookie {
	b.c.t.Helper()
	res := run(b, "reading cookies", func(ctx context.Context, t *chromedp.Target) (network.GetCookiesResult, error) {
		return chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{url}})
	})
	return res.Cookies
}

// cookieNames lists the names of the cookies of url whose name contains part.
func (b *tab) cookieNames(url, part string) []string {
	b.c.t.Helper()
	var names []string
	for _, c := range b.cookies(url) {
		if strings.Contains(c.Name, part) {
			names = append(names, c.Name)
		}
	}
	return names
}

var unsafePathChars = regexp.MustCompile(`[^A-Za-z0-9_./-]`)

// artifactDir is artifacts/<TestName>/ in the e2e directory.
func artifactDir(t *testing.T) string {
	name := unsafePathChars.ReplaceAllString(t.Name(), "_")
	name = strings.ReplaceAll(name, "..", "_")
	return filepath.Join("artifacts", filepath.FromSlash(name))
}

// saveArtifacts writes, for a failed test, a full screenshot and the HTML
// of every tab to artifacts/<TestName>/.
func (c *chrome) saveArtifacts() {
	if !c.t.Failed() {
		return
	}
	dir := artifactDir(c.t)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		c.t.Logf("saving browser artifacts: %v", err)
		return
	}
	for i, b := range c.tabs {
		base := filepath.Join(dir, fmt.Sprintf("%d-%s", i+1, unsafePathChars.ReplaceAllString(b.name, "_")))
		ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		var errs []error
		if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
			errs = append(errs, os.WriteFile(base+".png", png, 0o644))
		} else {
			errs = append(errs, fmt.Errorf("screenshot: %w", err))
		}
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		if html, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html"))); err == nil {
			errs = append(errs, os.WriteFile(base+".html", []byte("<!-- "+strings.ReplaceAll(loc, "--", "%2D%2D")+" -->\n"+html), 0o644))
		} else {
			errs = append(errs, fmt.Errorf("page HTML: %w", err))
		}
		cancel()
		if err := errors.Join(errs...); err != nil {
			c.t.Logf("saving browser artifacts of tab %s: %v", b.name, err)
		}
		c.t.Logf("tab %s was at %s; screenshot and HTML saved as %s.{png,html}", b.name, loc, base)
	}
}
