package stauth

// Benchmarks of what every protected request pays (issue 6): opening the
// session cookie, the placeholders, the whole gate of ServeHTTP for an
// authenticated request, measured against the same request through a no-op
// handler, and the login redirect.
//
//	go test -run='^$' -bench=. -benchmem .
//
// The Stauth under test is provisioned the way Caddy provisions it (a real
// secrets.toml, Provision, background discovery) against a local discovery
// document, which counts its requests: a benchmark fails if the hot path
// calls the provider. Nothing here asserts time; see size_test.go for the
// deterministic assertions (cookie sizes, allocations, memory).

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"golang.org/x/oauth2"
)

// benchSite is a provisioned Stauth and the local provider it discovered.
type benchSite struct {
	s        *Stauth
	provider *provider
	found    *discovered
	// opHits counts every request the provider received.
	opHits *atomic.Int64
}

// benchSiteOptions choose the provider's metadata and stauth's settings.
type benchSiteOptions struct {
	// endSession gives the provider an end_session_endpoint, so the ID
	// token is kept for logout, in its own cookie (Entra, Okta; not Google).
	endSession bool
	// allowEmails and allowClaims are set on the Stauth before Provision.
	allowEmails []string
	allowClaims []ClaimRule
}

// newBenchSite provisions a Stauth from a secrets.toml naming one provider,
// "google", whose discovery document a local server answers. It returns once
// discovery is done; the logger is silenced.
func newBenchSite(tb testing.TB, o benchSiteOptions) *benchSite {
	tb.Helper()
	hits := new(atomic.Int64)
	var issuer string
	op := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path != "/.well-known/openid-configuration" {
			http.NotFound(w, r)
			return
		}
		meta := map[string]any{
			"issuer":                                issuer,
			"authorization_endpoint":                issuer + "/o/oauth2/v2/auth",
			"token_endpoint":                        issuer + "/token",
			"userinfo_endpoint":                     issuer + "/v1/userinfo",
			"jwks_uri":                              issuer + "/oauth2/v3/certs",
			"response_types_supported":              []string{"code", "id_token"},
			"id_token_signing_alg_values_supported": []string{"RS256"},
			"token_endpoint_auth_methods_supported": []string{"client_secret_post", "client_secret_basic"},
		}
		if o.endSession {
			meta["end_session_endpoint"] = issuer + "/logout"
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(meta)
	}))
	tb.Cleanup(op.Close)
	issuer = op.URL

	dir := tb.TempDir()
	secretsPath := filepath.Join(dir, "secrets.toml")
	secretsText := fmt.Sprintf(`[auth]
redirect_uri = "http://localhost:8080/oauth2callback"
cookie_secret = %q

[auth.google]
client_id = "1234567890-abcdefghijklmnopqrstuvwxyz012345.apps.googleusercontent.com"
client_secret = "GOCSPX-bench-client-secret"
server_metadata_url = "%s/.well-known/openid-configuration"
`, benchCookieSecret, issuer)
	if err := os.WriteFile(secretsPath, []byte(secretsText), 0o600); err != nil {
		tb.Fatal(err)
	}

	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	tb.Cleanup(cancel)
	s := &Stauth{SecretsFile: secretsPath, AllowEmails: o.allowEmails, AllowClaims: o.allowClaims}
	if err := s.Provision(ctx); err != nil {
		tb.Fatal(err)
	}
	if err := s.Validate(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Cleanup() })
	s.logger = zap.NewNop()
	p := s.providerOrder[0]
	d, err := p.discover(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return &benchSite{s: s, provider: p, found: d, opHits: hits}
}

// benchCookieSecret is the cookie_secret of the benchmark site (as made by
// `openssl rand -hex 32`).
const benchCookieSecret = "3f9c1a7be2d84c6f0a5e1d2c3b4a59687f6e5d4c3b2a19080f1e2d3c4b5a6978"

// checkNoProviderCalls fails when the provider was called since before.
func (b *benchSite) checkNoProviderCalls(tb testing.TB, before int64) {
	tb.Helper()
	if n := b.opHits.Load() - before; n != 0 {
		tb.Fatalf("the hot path sent %d requests to the provider; discovery and keys must be cached", n)
	}
}

// sealLike seals a login of shape as the callback does (newSession, then
// sealSession) and returns the sealed value and the session.
func (b *benchSite) sealLike(tb testing.TB, shape claimShape) (string, *session) {
	tb.Helper()
	id := &identity{
		claims:     shape.sessionClaims(),
		token:      &oauth2.Token{AccessToken: shape.accessToken, RefreshToken: "", Expiry: time.Now().Add(time.Hour)},
		rawIDToken: shape.idToken(),
	}
	sess, err := b.s.newSession(b.provider, id)
	if err != nil {
		tb.Fatal(err)
	}
	sealed, err := b.s.cookies.sealSession(sess)
	if err != nil {
		tb.Fatalf("%s: %v", shape.name, err)
	}
	return sealed, sess
}

// cookiesFor returns the Set-Cookie lines stauth writes for a sealed
// session and the Cookie header a browser sends back with them.
func (b *benchSite) cookiesFor(sealed string) (setCookies []*http.Cookie, header string) {
	rec := httptest.NewRecorder()
	b.s.cookies.setSession(rec, httptest.NewRequest(http.MethodGet, "/", nil), sealed)
	var pairs []string
	for _, c := range rec.Result().Cookies() {
		if c.MaxAge < 0 {
			continue
		}
		setCookies = append(setCookies, c)
		pairs = append(pairs, c.Name+"="+c.Value)
	}
	return setCookies, strings.Join(pairs, "; ")
}

// claimShape is the claims and tokens one provider gives for a login.
type claimShape struct {
	name string
	// id are the ID token's claims; userinfo the userinfo answer's.
	id, userinfo map[string]any
	accessToken  string
}

// sessionClaims merges the claims as the callback does: the ID token's,
// then userinfo's except the protected ones.
func (c claimShape) sessionClaims() map[string]any {
	claims := map[string]any{}
	for k, v := range c.id {
		claims[k] = v
	}
	for k, v := range c.userinfo {
		if !slices.Contains(protectedClaims, k) {
			claims[k] = v
		}
	}
	return claims
}

// idToken is an RS256 ID token of the shape's claims, the size a provider
// sends: a header with a key ID, the claims, a 2048-bit RSA signature.
func (c claimShape) idToken() string {
	header, _ := json.Marshal(map[string]string{"alg": "RS256", "kid": "c8ab71530972bba20b49f78a09c9852c43ff9118", "typ": "JWT"})
	payload, _ := json.Marshal(c.id)
	sig := make([]byte, 256)
	_, _ = rand.Read(sig)
	enc := base64.RawURLEncoding
	return enc.EncodeToString(header) + "." + enc.EncodeToString(payload) + "." + enc.EncodeToString(sig)
}

// guid returns a random GUID, as Entra's object IDs.
func guid() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func randomText(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)[:n]
}

// googleShape is a Google Workspace login: ID token and userinfo as Google
// sends them for the scopes openid profile email.
func googleShape() claimShape {
	now := float64(time.Now().Unix())
	client := "1234567890-abcdefghijklmnopqrstuvwxyz012345.apps.googleusercontent.com"
	picture := "https://lh3.googleusercontent.com/a/ACg8ocKx" + randomText(60) + "=s96-c"
	return claimShape{
		name: "google",
		id: map[string]any{
			"iss": "https://accounts.google.com", "azp": client, "aud": client,
			"sub": "110169484474386276334", "hd": "example.com", "email": "jane.doe@example.com", "email_verified": true,
			"at_hash": randomText(22), "nonce": randomText(43), "name": "Jane Doe", "picture": picture,
			"given_name": "Jane", "family_name": "Doe", "iat": now, "exp": now + 3600,
		},
		userinfo: map[string]any{
			"sub": "110169484474386276334", "name": "Jane Doe", "given_name": "Jane", "family_name": "Doe",
			"picture": picture, "email": "jane.doe@example.com", "email_verified": true, "hd": "example.com",
		},
		accessToken: "ya29." + randomText(210),
	}
}

// entraShape is a Microsoft Entra ID (v2.0 endpoint) login whose ID token
// carries groups object IDs (groupMembershipClaims), plus Graph's userinfo.
func entraShape(groups int) claimShape {
	now := float64(time.Now().Unix())
	tenant, client, oid := guid(), guid(), guid()
	list := make([]any, groups)
	for i := range list {
		list[i] = guid()
	}
	sub := randomText(43)
	return claimShape{
		name: fmt.Sprintf("entra-%d-groups", groups),
		id: map[string]any{
			"aud": client, "iss": "https://login.microsoftonline.com/" + tenant + "/v2.0",
			"iat": now, "nbf": now, "exp": now + 3600,
			"aio": "AWQAm/8" + randomText(120), "email": "jane.doe@contoso.com", "groups": list,
			"name": "Jane Doe", "nonce": randomText(43), "oid": oid, "preferred_username": "jane.doe@contoso.com",
			"rh": "0." + randomText(54) + ".", "sid": guid(), "sub": sub, "tid": tenant, "uti": randomText(22), "ver": "2.0",
		},
		userinfo: map[string]any{
			"sub": sub, "name": "Jane Doe", "family_name": "Doe", "given_name": "Jane",
			"picture": "https://graph.microsoft.com/v1.0/me/photo/$value", "email": "jane.doe@contoso.com",
		},
		accessToken: "eyJ0eXAiOiJKV1QiLCJub25jZSI6" + randomText(1800),
	}
}

// oktaShape is an Okta login through the default authorization server with
// a groups claim, plus Okta's userinfo.
func oktaShape() claimShape {
	now := float64(time.Now().Unix())
	sub, client := "00u"+randomText(17), "0oa"+randomText(17)
	groups := []any{"Everyone", "Engineering", "Engineering-Platform", "okta-app-users", "VPN-Users", "GitHub-Org-Members", "Jira-Users", "Confluence-Users"}
	return claimShape{
		name: "okta",
		id: map[string]any{
			"sub": sub, "name": "Jane Doe", "email": "jane.doe@example.com", "ver": 1.0,
			"iss": "https://dev-12345678.okta.com/oauth2/default", "aud": client, "iat": now, "exp": now + 3600,
			"jti": "ID." + randomText(43), "amr": []any{"pwd", "mfa", "otp"}, "idp": "00o" + randomText(17),
			"nonce": randomText(43), "preferred_username": "jane.doe@example.com", "auth_time": now - 30,
			"at_hash": randomText(22), "groups": groups,
		},
		userinfo: map[string]any{
			"sub": sub, "name": "Jane Doe", "locale": "en-US", "email": "jane.doe@example.com",
			"preferred_username": "jane.doe@example.com", "given_name": "Jane", "family_name": "Doe",
			"zoneinfo": "America/Los_Angeles", "updated_at": now - 86400*90, "email_verified": true, "groups": groups,
		},
		accessToken: "eyJraWQiOiJ" + randomText(900),
	}
}

// benchRequest is one request as Caddy's server hands it to the handler
// chain: a fresh Replacer and the server's context values each time.
type benchRequest struct {
	base   *http.Request
	cookie []string // restored before each request: stauth strips its own cookies
	w      *benchWriter
}

func newBenchRequest(target, cookieHeader string) *benchRequest {
	r := httptest.NewRequest(http.MethodGet, target, nil)
	r.Host = "localhost:8080"
	r.Header.Set("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
	r.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36")
	r.Header.Set("Accept-Encoding", "gzip, deflate, br")
	r.Header.Set("Sec-Fetch-Mode", "navigate")
	br := &benchRequest{base: r, w: &benchWriter{h: http.Header{}}}
	if cookieHeader != "" {
		br.cookie = []string{cookieHeader}
	}
	return br
}

// next returns the request, prepared as caddyhttp.Server prepares it.
func (br *benchRequest) next() *http.Request {
	if br.cookie != nil {
		br.base.Header["Cookie"] = br.cookie
	}
	clear(br.w.h)
	br.w.status = 0
	return caddyhttp.PrepareRequest(br.base, caddy.NewReplacer(), br.w, nil)
}

// benchWriter is a ResponseWriter that keeps only the status and headers.
type benchWriter struct {
	h      http.Header
	status int
}

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *benchWriter) WriteHeader(status int)      { w.status = status }

// noopNext is the next handler: it does nothing, as cheaply as possible.
var noopNext = caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })

// gateCase is one authenticated request shape.
type gateCase struct {
	name  string
	shape func() claimShape
	// endSession keeps the ID token for logout, as for a provider with
	// logout (in the logout hint cookie, which the gate never sees).
	endSession bool
	// appCookies are the site's own cookies, sent beside stauth's.
	appCookies string
}

var gateCases = []gateCase{
	{name: "google", shape: googleShape},
	{name: "google+app-cookies", shape: googleShape, appCookies: "_ga=GA1.1.1234567890.1700000000; theme=dark; csrftoken=" + strings.Repeat("a", 32)},
	{name: "okta+logout", shape: oktaShape, endSession: true},
	{name: "entra-50-groups+logout", shape: func() claimShape { return entraShape(50) }, endSession: true},
	{name: "entra-200-groups-chunked", shape: func() claimShape { return entraShape(200) }, endSession: true},
}

// gateRequest provisions a site for c and returns it with the request of a
// logged-in browser.
func gateRequest(b *testing.B, c gateCase) (*benchSite, *benchRequest) {
	site := newBenchSite(b, benchSiteOptions{endSession: c.endSession})
	sealed, _ := site.sealLike(b, c.shape())
	_, header := site.cookiesFor(sealed)
	if c.appCookies != "" {
		header = c.appCookies + "; " + header
	}
	return site, newBenchRequest("http://localhost:8080/reports/2024?page=2", header)
}

// BenchmarkServeHTTPBaseline is the request of BenchmarkServeHTTPAuthenticated
// with a no-op handler in stauth's place: what Caddy pays without stauth.
func BenchmarkServeHTTPBaseline(b *testing.B) {
	for _, c := range gateCases {
		b.Run(c.name, func(b *testing.B) {
			_, br := gateRequest(b, c)
			b.ReportAllocs()
			for b.Loop() {
				if err := noopNext.ServeHTTP(br.w, br.next()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkServeHTTPAuthenticated is the whole gate for a logged-in
// browser: cookie scan, open, decode, placeholders, strip, next handler. Its
// gate-ns/op and gate-allocs/op are the difference to the same request
// through a no-op handler (BenchmarkServeHTTPBaseline), measured in the same
// run: what stauth adds (the targets: at most 2000 ns and 10 allocs).
func BenchmarkServeHTTPAuthenticated(b *testing.B) {
	for _, c := range gateCases {
		b.Run(c.name, func(b *testing.B) {
			site, br := gateRequest(b, c)
			hits := site.opHits.Load()
			var served int
			next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { served++; return nil })
			b.ReportAllocs()
			runtime.GC()
			start := readMallocs()
			for b.Loop() {
				if err := site.s.ServeHTTP(br.w, br.next(), next); err != nil {
					b.Fatal(err)
				}
			}
			allocs := float64(readMallocs()-start) / float64(b.N)
			if served != b.N || br.w.status != 0 {
				b.Fatalf("%d of %d requests reached the next handler (last status %d): the session did not open", served, b.N, br.w.status)
			}
			site.checkNoProviderCalls(b, hits)
			elapsed := b.Elapsed()
			baseNs, baseAllocs := baselineOf(b.N, br)
			b.ReportMetric(float64(elapsed.Nanoseconds())/float64(b.N)-baseNs, "gate-ns/op")
			b.ReportMetric(allocs-baseAllocs, "gate-allocs/op")
		})
	}
}

// baselineOf measures the request through a no-op handler, n times, with
// the benchmark's timer stopped: the same request, in the same run.
func baselineOf(n int, br *benchRequest) (nsPerOp, allocsPerOp float64) {
	cookie := br.cookie
	runtime.GC()
	mallocs := readMallocs()
	start := time.Now()
	for range n {
		br.cookie = cookie
		_ = noopNext.ServeHTTP(br.w, br.next())
	}
	elapsed := time.Since(start)
	return float64(elapsed.Nanoseconds()) / float64(n), float64(readMallocs()-mallocs) / float64(n)
}

// BenchmarkServeHTTPAllowRules is the gate of a site with access rules:
// allow_emails (which reads the session's own email field) and allow_claim
// on groups (which decodes the claims, on every request).
func BenchmarkServeHTTPAllowRules(b *testing.B) {
	entra := entraShape(50)
	group := entra.id["groups"].([]any)[49].(string)
	for _, c := range []struct {
		name  string
		shape claimShape
		o     benchSiteOptions
	}{
		{"google/allow_emails-domain", googleShape(), benchSiteOptions{allowEmails: []string{"admin@example.org", "*@example.com"}}},
		{"google/allow_claim-hd", googleShape(), benchSiteOptions{allowClaims: []ClaimRule{{Claim: "hd", Values: []string{"example.com"}}}}},
		{"entra-50-groups/allow_claim-groups", entra, benchSiteOptions{allowClaims: []ClaimRule{{Claim: "groups", Values: []string{group}}}}},
	} {
		b.Run(c.name, func(b *testing.B) {
			site := newBenchSite(b, c.o)
			sealed, _ := site.sealLike(b, c.shape)
			_, header := site.cookiesFor(sealed)
			br := newBenchRequest("http://localhost:8080/reports/2024?page=2", header)
			served := 0
			next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { served++; return nil })
			b.ReportAllocs()
			for b.Loop() {
				if err := site.s.ServeHTTP(br.w, br.next(), next); err != nil {
					b.Fatal(err)
				}
			}
			if served != b.N {
				b.Fatalf("%d of %d requests let through (last status %d)", served, b.N, br.w.status)
			}
		})
	}
}

// BenchmarkServeHTTPChallenge is a browser without a session: the 303 to
// the login page (no cookie), and a cookie that does not open (deleted).
func BenchmarkServeHTTPChallenge(b *testing.B) {
	for _, c := range []struct{ name, cookie string }{
		{"no-cookie", ""},
		{"bad-cookie", "stauth_session=" + strings.Repeat("A", 600)},
	} {
		b.Run(c.name, func(b *testing.B) {
			site := newBenchSite(b, benchSiteOptions{})
			br := newBenchRequest("http://localhost:8080/reports/2024?page=2", c.cookie)
			b.ReportAllocs()
			for b.Loop() {
				if err := site.s.ServeHTTP(br.w, br.next(), noopNext); err != nil {
					b.Fatal(err)
				}
			}
			if br.w.status != http.StatusSeeOther {
				b.Fatalf("status %d, want 303", br.w.status)
			}
		})
	}
}

// BenchmarkOpenSession reads and opens the session cookie of a request:
// finding it (and joining its chunks), base64, AES-GCM, decoding the payload.
func BenchmarkOpenSession(b *testing.B) {
	for _, c := range []struct {
		name       string
		shape      func() claimShape
		endSession bool
		chunked    bool
	}{
		{"google", googleShape, false, false},
		{"okta+logout", oktaShape, true, false},
		{"entra-50-groups+logout", func() claimShape { return entraShape(50) }, true, false},
		{"entra-200-groups-chunked", func() claimShape { return entraShape(200) }, true, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			site := newBenchSite(b, benchSiteOptions{endSession: c.endSession})
			sealed, _ := site.sealLike(b, c.shape())
			set, header := site.cookiesFor(sealed)
			if c.chunked != (len(set) > 1) {
				b.Fatalf("%d cookies; chunked: %v", len(set), c.chunked)
			}
			h := http.Header{"Cookie": {header}}
			now := time.Now()
			b.SetBytes(int64(len(header)))
			b.ReportAllocs()
			for b.Loop() {
				sess, _ := site.s.cookies.openSession(chunkedValue(h, site.s.cookies.session), now)
				if sess == nil {
					b.Fatal("the session did not open")
				}
			}
		})
	}
}

// BenchmarkPlaceholders sets the http.auth.user.* placeholders on a request's
// Replacer and resolves them as a template or log would. Each iteration uses
// a freshly decoded session, as each request does: "none" is that decode
// alone, the others add the lookups.
func BenchmarkPlaceholders(b *testing.B) {
	for _, c := range []struct {
		name  string
		shape func() claimShape
		keys  []string
	}{
		{"google/none", googleShape, nil},
		{"google/set-only", googleShape, []string{}},
		{"google/id", googleShape, []string{"id"}},
		{"google/id+email+provider", googleShape, []string{"id", "email", "provider"}},
		{"google/name", googleShape, []string{"name"}},
		{"google/id+email+name+picture", googleShape, []string{"id", "email", "name", "picture"}},
		{"google/picture", googleShape, []string{"picture"}},
		{"google/iat", googleShape, []string{"iat"}},
		{"okta/name", oktaShape, []string{"name"}},
		{"okta/groups", oktaShape, []string{"groups"}},
		{"okta/amr", oktaShape, []string{"amr"}},
		{"okta/id+email+name+groups", oktaShape, []string{"id", "email", "name", "groups"}},
		{"entra-50-groups/name", func() claimShape { return entraShape(50) }, []string{"name"}},
		{"entra-50-groups/oid", func() claimShape { return entraShape(50) }, []string{"oid"}},
		{"entra-50-groups/groups", func() claimShape { return entraShape(50) }, []string{"groups"}},
		{"entra-50-groups/id+email+name+groups", func() claimShape { return entraShape(50) }, []string{"id", "email", "name", "groups"}},
		{"entra-200-groups/groups", func() claimShape { return entraShape(200) }, []string{"groups"}},
	} {
		b.Run(c.name, func(b *testing.B) {
			site := newBenchSite(b, benchSiteOptions{})
			_, sess := site.sealLike(b, c.shape())
			payload := sess.encode()
			keys := make([]string, len(c.keys))
			for i, k := range c.keys {
				keys[i] = userPrefix + k
			}
			b.ReportAllocs()
			for b.Loop() {
				fresh, ok := decodeSession(payload)
				if !ok {
					b.Fatal("decode")
				}
				repl := benchReplacer()
				if c.keys == nil {
					continue
				}
				repl.Map(site.s.placeholders(fresh))
				for _, k := range keys {
					if v, ok := repl.GetString(k); !ok || v == "" {
						b.Fatalf("%s is empty", k)
					}
				}
			}
		})
	}
}

// benchReplacer is a request's Replacer as Caddy's server makes it: the
// defaults and the http.* variables already mapped.
func benchReplacer() *caddy.Replacer {
	repl := caddy.NewReplacer()
	repl.Map(benchHTTPVars)
	return repl
}

func benchHTTPVars(string) (any, bool) { return nil, false }

// readMallocs is the number of heap allocations so far.
func readMallocs() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Mallocs
}

// BenchmarkServeLogin is the login redirect: transaction cookie, state,
// nonce and PKCE, the authorization URL, with discovery cached.
func BenchmarkServeLogin(b *testing.B) {
	site := newBenchSite(b, benchSiteOptions{})
	br := newBenchRequest("http://localhost:8080/auth/login?rd=%2Freports%2F2024%3Fpage%3D2", "")
	hits := site.opHits.Load()
	b.ReportAllocs()
	for b.Loop() {
		if err := site.s.ServeHTTP(br.w, br.next(), noopNext); err != nil {
			b.Fatal(err)
		}
	}
	if br.w.status != http.StatusSeeOther || !strings.HasPrefix(br.w.h.Get("Location"), site.found.oauth.Endpoint.AuthURL+"?") {
		b.Fatalf("status %d to %q, want 303 to the provider", br.w.status, br.w.h.Get("Location"))
	}
	site.checkNoProviderCalls(b, hits)
}
