package stauth

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func TestStreamlitUserOption(t *testing.T) {
	good := writeTestSecrets(t, validAuth)
	route, err := adaptSite(t, "stauth "+good+" {\n\tstreamlit_user starlette\n}")
	if err != nil {
		t.Fatal(err)
	}
	if raw, _ := json.Marshal(route); !strings.Contains(string(raw), `"streamlit_user":"starlette"`) {
		t.Fatalf("the adapted route lacks streamlit_user: %s", raw)
	}
	for _, c := range []struct{ name, body, want string }{
		{"unknown value", "stauth " + good + " {\n\tstreamlit_user 1.57\n}", `streamlit_user: unknown value "1.57": use "tornado" for Streamlit 1.56 and older`},
		{"no value", "stauth " + good + " {\n\tstreamlit_user\n}", "stauth: streamlit_user takes one value: tornado (Streamlit 1.56 and older) or starlette"},
		{"two values", "stauth " + good + " {\n\tstreamlit_user tornado starlette\n}", "stauth: streamlit_user takes one value"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := adaptSite(t, c.body); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v\nwant it to contain %q", err, c.want)
			}
		})
	}
	s := Stauth{StreamlitUser: "Tornado"}
	s.setDefaults()
	if err := s.Validate(); err == nil || !strings.Contains(err.Error(), `stauth: streamlit_user: unknown value "Tornado"`) {
		t.Fatalf("Validate of JSON streamlit_user Tornado: %v", err)
	}
}

// streamlitSite is a provisioned Stauth with streamlit_user set (format ""
// leaves it off) and the Cookie header of a logged-in Google user.
func streamlitSite(t testing.TB, format string) (*benchSite, string) {
	t.Helper()
	site := newBenchSite(t, benchSiteOptions{})
	site.s.StreamlitUser = format
	if err := site.s.setUpStreamlit(); err != nil {
		t.Fatal(err)
	}
	sealed, _ := site.sealLike(t, googleShape())
	_, header := site.cookiesFor(sealed)
	return site, header
}

// upstreamCookie sends a request for target with the Cookie header through
// the site and returns the Cookie header the next handler received.
func upstreamCookie(t testing.TB, site *benchSite, target, cookie string, header ...string) string {
	t.Helper()
	br := newBenchRequest("http://localhost:8080"+target, cookie)
	for i := 0; i+1 < len(header); i += 2 {
		br.base.Header.Set(header[i], header[i+1])
	}
	got, served := "", false
	next := caddyhttp.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) error {
		served, got = true, strings.Join(r.Header["Cookie"], "\n")
		return nil
	})
	if err := site.s.ServeHTTP(br.w, br.next(), next); err != nil || !served {
		t.Fatalf("%s: not passed on (status %d, %v)", target, br.w.status, err)
	}
	return got
}

// TestPassStreamlitUser shows what the upstream receives: on the WebSocket
// handshake, under any base path, a _streamlit_user that Tornado and
// itsdangerous read as the user, in place of the browser's; on any other
// request no _streamlit_user cookie at all; without the option, the
// browser's cookies as they were.
func TestPassStreamlitUser(t *testing.T) {
	const forged = "_streamlit_xsrf=2|ab|cd|1800000000; _streamlit_user=forged; _streamlit_user_1=forged; theme=dark"
	type check struct {
		format, target string
		minted         bool
	}
	var checks []check
	var reqs []streamlitPyRequest
	for _, format := range []string{"tornado", "starlette"} {
		site, session := streamlitSite(t, format)
		for _, c := range []check{
			{format, "/_stcore/stream", true},
			{format, "/app/_stcore/stream", true},
			{format, "/_stcore/health", false},
			{format, "/app/", false},
		} {
			got := upstreamCookie(t, site, c.target, forged+"; "+session)
			if strings.Contains(got, "stauth_") || !strings.Contains(got, "_streamlit_xsrf=2|ab|cd|1800000000") || !strings.Contains(got, "theme=dark") {
				t.Errorf("%s %s: the upstream's Cookie lost the app's cookies or kept stauth's: %q", format, c.target, got)
			}
			if strings.Contains(got, "=forged") || strings.Contains(got, "_streamlit_user=") != c.minted {
				t.Errorf("%s %s: upstream Cookie %q; want a minted _streamlit_user: %v, and never the browser's", format, c.target, got, c.minted)
			}
			checks = append(checks, c)
			reqs = append(reqs, streamlitPyRequest{Op: "decode", Format: format, Secret: benchCookieSecret, Name: streamlitUserCookie, Header: got})
		}
	}
	answers := streamlitPython(t, reqs)
	for i, c := range checks {
		a := answers[i]
		if !c.minted {
			if a.Payload != nil {
				t.Errorf("%s %s: the app reads a user %s", c.format, c.target, *a.Payload)
			}
			continue
		}
		if a.Payload == nil {
			t.Errorf("%s %s: the app reads no user", c.format, c.target)
			continue
		}
		var user map[string]any
		if err := json.Unmarshal([]byte(*a.Payload), &user); err != nil {
			t.Fatal(err)
		}
		if user["email"] != "jane.doe@example.com" || user["name"] != "Jane Doe" || user["provider"] != "google" ||
			user["origin"] != "http://localhost:8080" || user["is_logged_in"] != true || user["sub"] != "110169484474386276334" {
			t.Errorf("%s %s: the app reads %v", c.format, c.target, user)
		}
	}

	off, session := streamlitSite(t, "")
	if got := upstreamCookie(t, off, "/_stcore/stream", forged+"; "+session); got != forged {
		t.Errorf("without streamlit_user the upstream gets %q, want the browser's cookies %q", got, forged)
	}
}

// TestStreamlitUserLoggedOut shows a logged-out request of an anonymous
// site, and the passive stauth's, reach the upstream without any
// _streamlit_user cookie, the browser's included.
func TestStreamlitUserLoggedOut(t *testing.T) {
	site, _ := streamlitSite(t, "tornado")
	for _, c := range []struct {
		name string
		set  func(*Stauth)
	}{
		{"anonymous", func(s *Stauth) { s.Anonymous = true }},
		{"passive", func(s *Stauth) { s.Passive = true }},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := *site.s
			c.set(&s)
			copied := &benchSite{s: &s, provider: site.provider, found: site.found, opHits: site.opHits}
			got := upstreamCookie(t, copied, "/_stcore/stream", "_streamlit_user=forged; theme=dark; stauth_session=bad")
			if got != "theme=dark" {
				t.Fatalf("upstream Cookie %q, want only theme=dark", got)
			}
		})
	}
}

// TestStreamlitMintCache shows a session's cookie is minted once and handed
// out again, and minted afresh for another session, new tokens or after a
// day.
func TestStreamlitMintCache(t *testing.T) {
	site, _ := streamlitSite(t, "starlette")
	m := site.s.streamlit
	m.exposeAccess = true
	_, sess := site.sealLike(t, googleShape())
	_, other := site.sealLike(t, googleShape())
	sess.accessToken = "ya29.first" // stauth keeps only the exposed tokens
	r := httptest.NewRequest(http.MethodGet, "/_stcore/stream", nil)
	now := time.Now()
	first := m.mint(r, sess, now)
	if !strings.HasPrefix(first, streamlitUserCookie+"=") || !strings.Contains(first, "; "+streamlitTokensCookie+"=") {
		t.Fatal("the minted cookies lack the user or the tokens")
	}
	if again := m.mint(r, sess, now.Add(time.Hour)); again != first {
		t.Error("the same session an hour later was minted again")
	}
	if m.mint(r, other, now) == first {
		t.Error("another session got the first one's cookie")
	}
	if m.mint(r, sess, now.Add(25*time.Hour)) == first {
		t.Error("a day-old cookie was handed out again")
	}
	latest := m.mint(r, sess, now.Add(25*time.Hour))
	sess.accessToken = "ya29.refreshed"
	if m.mint(r, sess, now.Add(26*time.Hour)) == latest {
		t.Error("a refreshed access token kept the old cookie")
	}
	for i := range 2 * streamlitMintCacheSize {
		m.store(streamlitMintKey{"o", strconv.Itoa(i)}, streamlitMint{at: now}, now)
	}
	if n := len(m.cache); n > streamlitMintCacheSize {
		t.Errorf("the cache holds %d mints, more than %d", n, streamlitMintCacheSize)
	}
}

// TestStreamlitOriginPort shows the origin of a redirect_uri with {port} is
// the listener's port, whatever the Host header says.
func TestStreamlitOriginPort(t *testing.T) {
	m := &streamlitMinter{redirectURI: "https://app.example:{port}/oauth2callback"}
	r := httptest.NewRequest(http.MethodGet, "/_stcore/stream", nil)
	r.Host = "app.example:1"
	if got := m.siteOrigin(r); got != "" {
		t.Errorf("origin without a listener: %q, want none", got)
	}
	r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8443}))
	if got := m.siteOrigin(r); got != "https://app.example:8443" {
		t.Errorf("origin %q, want https://app.example:8443", got)
	}
}

// TestStreamlitGateAllocations checks that streamlit_user adds no
// allocation to a request that is not the handshake and brings no
// _streamlit_user cookie (issue 15).
func TestStreamlitGateAllocations(t *testing.T) {
	if raceEnabledHere() {
		t.Skip("the race detector changes allocation counts")
	}
	count := func(format string) float64 {
		site, header := streamlitSite(t, format)
		br := newBenchRequest("http://localhost:8080/app/_stcore/host-config", header)
		runtime.GC()
		return testing.AllocsPerRun(200, func() { _ = site.s.ServeHTTP(br.w, br.next(), noopNext) })
	}
	off, on := count(""), count("tornado")
	if on != off {
		t.Errorf("a request through the gate allocates %.0f times with streamlit_user, %.0f without", on, off)
	}
}

// BenchmarkServeHTTPStreamlit is the gate of a logged-in Google user with
// streamlit_user off and on: a page (the cost every request pays), the
// WebSocket handshake with the cookie cached, and with it minted each time.
func BenchmarkServeHTTPStreamlit(b *testing.B) {
	for _, c := range []struct {
		name, format, target string
		uncached             bool
	}{
		{"off/page", "", "/app/reports", false},
		{"tornado/page", "tornado", "/app/reports", false},
		{"starlette/page", "starlette", "/app/reports", false},
		{"off/handshake", "", "/app/_stcore/stream", false},
		{"tornado/handshake-cached", "tornado", "/app/_stcore/stream", false},
		{"starlette/handshake-cached", "starlette", "/app/_stcore/stream", false},
		{"tornado/handshake-minted", "tornado", "/app/_stcore/stream", true},
		{"starlette/handshake-minted", "starlette", "/app/_stcore/stream", true},
	} {
		b.Run(c.name, func(b *testing.B) {
			site, header := streamlitSite(b, c.format)
			br := newBenchRequest("http://localhost:8080"+c.target, "_streamlit_xsrf=2|ab|cd|1800000000; "+header)
			served := 0
			next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { served++; return nil })
			b.ReportAllocs()
			for b.Loop() {
				if c.uncached {
					clear(site.s.streamlit.cache)
				}
				if err := site.s.ServeHTTP(br.w, br.next(), next); err != nil {
					b.Fatal(err)
				}
			}
			if served != b.N {
				b.Fatalf("%d of %d requests passed on", served, b.N)
			}
		})
	}
}
