package stauth

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stauth/caddy-stauth/internal/hostileop"
	"github.com/stauth/caddy-stauth/internal/testcaddy"
)

// assertionPage shows the assertion header the upstream receives.
const assertionPage = `logged_in={http.auth.user.is_logged_in} assertion=[{http.request.header.X-Stauth-Assertion}]`

var assertionPattern = regexp.MustCompile(`assertion=\[([^\]]*)\]`)

// assertionOf is the assertion the upstream received, from its page.
func assertionOf(t *testing.T, resp *testResp) string {
	t.Helper()
	m := assertionPattern.FindStringSubmatch(resp.Body)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("the upstream's page: %s %q", resp.Status, resp.Body)
	}
	return m[1]
}

// upstreamClaims are the claims an upstream reads beside the registered ones.
type upstreamClaims struct {
	Email  string   `json:"email"`
	Groups []string `json:"groups"`
}

// TestUpstreamJWT: the upstream gets a JWT that an independent verifier
// (go-jose's jwt, with the key set fetched from stauth's endpoint) accepts
// with the site as iss, the audience, the user's sub, email and groups, and
// at most a minute to live; a client-sent header of that name never
// reaches it, and a logged-out request carries none.
func TestUpstreamJWT(t *testing.T) {
	site := newTestSite(t, siteOptions{stauth: "upstream_jwt grafana\n\t\t\tanonymous", body: assertionPage,
		behaviour: hostileop.Behaviour{Claims: func(c map[string]any) { c["groups"] = []string{"admins", "staff"} }}})
	b := site.browser(t)

	if resp := b.get("/dash", "X-Stauth-Assertion", "forged"); assertionOf(t, resp) != "" || !strings.Contains(resp.Body, "logged_in=false") {
		t.Errorf("a logged-out request reached the upstream with an assertion: %q", resp.Body)
	}
	b.mustLogIn("/auth/login", "/")
	token := assertionOf(t, b.get("/dash", "X-Stauth-Assertion", "forged"))
	if token == "" || token == "forged" {
		t.Fatalf("the upstream got assertion %q", token)
	}

	keysResp := b.do(http.MethodGet, "/auth/jwks.json")
	var keys jose.JSONWebKeySet
	if keysResp.StatusCode != http.StatusOK || json.Unmarshal([]byte(keysResp.Body), &keys) != nil || len(keys.Keys) != 1 {
		t.Fatalf("/auth/jwks.json: %s %q", keysResp.Status, keysResp.Body)
	}
	if !keys.Keys[0].IsPublic() {
		t.Fatal("the key set holds a private key")
	}
	parsed, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	found := keys.Key(parsed.Headers[0].KeyID)
	if len(found) != 1 {
		t.Fatalf("no key %q in the key set", parsed.Headers[0].KeyID)
	}
	var std jwt.Claims
	var extra upstreamClaims
	if err := parsed.Claims(found[0].Key, &std, &extra); err != nil {
		t.Fatalf("the assertion's signature: %v", err)
	}
	now := time.Now()
	if err := std.ValidateWithLeeway(jwt.Expected{Issuer: site.URL, AnyAudience: jwt.Audience{"grafana"}, Subject: hostileop.DefaultSubject, Time: now}, 0); err != nil {
		t.Errorf("claims %+v: %v", std, err)
	}
	if std.Expiry == nil || std.IssuedAt == nil || std.Expiry.Time().Sub(std.IssuedAt.Time()) > time.Minute || std.Expiry.Time().After(now.Add(time.Minute)) {
		t.Errorf("the assertion lives too long: iat %v exp %v", std.IssuedAt, std.Expiry)
	}
	if extra.Email != hostileop.DefaultEmail || !slices.Equal(extra.Groups, []string{"admins", "staff"}) {
		t.Errorf("email %q groups %q", extra.Email, extra.Groups)
	}
	if resp := b.do(http.MethodPost, "/auth/jwks.json"); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /auth/jwks.json: %s", resp.Status)
	}
}

// TestAssertionCache: a session's assertion is reused for 30 seconds, then
// signed again; another session gets its own; the cache stays bounded.
func TestAssertionCache(t *testing.T) {
	s := &Stauth{UpstreamJWT: &UpstreamJWT{Audience: "app"}, secrets: &secrets{redirectURI: "https://app.example/cb", cookieSecrets: []string{atkCookieSecret}}}
	if err := s.setUpAssertions(); err != nil {
		t.Fatal(err)
	}
	a := s.assertions
	now := time.Unix(1_800_000_000, 0)
	alice := &session{id: "alice-session", sub: "alice"}
	first, _ := a.assertion(alice, now)
	if again, _ := a.assertion(alice, now.Add(29*time.Second)); again != first {
		t.Error("the assertion was signed again within 30 seconds")
	}
	if later, _ := a.assertion(alice, now.Add(31*time.Second)); later == first {
		t.Error("the assertion was reused after 30 seconds")
	}
	if other, _ := a.assertion(&session{id: "bob-session", sub: "bob"}, now); other == first {
		t.Error("another session got alice's assertion")
	}
	if swapped, _ := a.assertion(&session{id: "alice-session", sub: "mallory"}, now); swapped == first {
		t.Error("a session id with another sub got alice's assertion")
	}
	clear(a.cache)
	for i := range maxCachedAssertions {
		a.cache[fmt.Sprint(i)] = cachedAssertion{reuseUntil: now.Add(time.Duration(i%2) * time.Hour).UnixNano()}
	}
	_, _ = a.assertion(&session{id: "carol-session", sub: "carol"}, now)
	if _, kept := a.cache["1"]; !kept || len(a.cache) > maxCachedAssertions/2+1 {
		t.Errorf("a full cache kept %d assertions (a live one kept: %v); want the expired ones gone", len(a.cache), kept)
	}
	for i := range maxCachedAssertions {
		a.cache[fmt.Sprint(i)] = cachedAssertion{reuseUntil: now.Add(time.Hour).UnixNano()}
	}
	_, _ = a.assertion(&session{id: "dave-session", sub: "dave"}, now)
	if len(a.cache) > maxCachedAssertions {
		t.Errorf("the cache holds %d assertions, more than %d", len(a.cache), maxCachedAssertions)
	}
}

// TestAssertionKeyDerivation: the signing key follows from cookie_secret
// alone (every instance has the same), differs per secret, and the key set
// keeps the previous secret's key.
func TestAssertionKeyDerivation(t *testing.T) {
	kids := func(secretList ...string) []string {
		s := &Stauth{UpstreamJWT: &UpstreamJWT{Audience: "app"}, secrets: &secrets{redirectURI: "https://app.example/cb", cookieSecrets: secretList}}
		if err := s.setUpAssertions(); err != nil {
			t.Fatal(err)
		}
		var set jose.JSONWebKeySet
		if err := json.Unmarshal(s.assertions.jwks, &set); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, k := range set.Keys {
			out = append(out, k.KeyID)
		}
		return out
	}
	one, again := kids(atkCookieSecret), kids(atkCookieSecret)
	other := kids("another-cookie-secret-0123456789abcdef012345")
	rotated := kids("another-cookie-secret-0123456789abcdef012345", atkCookieSecret)
	if !slices.Equal(one, again) || len(one) != 1 {
		t.Errorf("the same secret gave keys %v and %v", one, again)
	}
	if slices.Equal(one, other) {
		t.Error("two secrets gave the same key")
	}
	if !slices.Equal(rotated, append(other, one...)) {
		t.Errorf("after rotation the key set is %v, want %v then %v", rotated, other, one)
	}
}

// TestUpstreamJWTConfigErrors: misused options are refused with a clear
// error.
func TestUpstreamJWTConfigErrors(t *testing.T) {
	secrets := filepath.Join(t.TempDir(), "secrets.toml")
	text := fmt.Sprintf("[auth]\nredirect_uri = \"http://localhost:8080/oauth2callback\"\ncookie_secret = %q\nclient_id = \"c\"\nclient_secret = \"s\"\nserver_metadata_url = \"http://127.0.0.1:1/.well-known/openid-configuration\"\n", atkCookieSecret)
	if err := os.WriteFile(secrets, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ options, want string }{
		{"upstream_jwt", "upstream_jwt takes the audience"},
		{"upstream_jwt a b c", "upstream_jwt takes the audience"},
		{"upstream_jwt grafana Cookie", "one HTTP itself uses"},
		{"upstream_jwt grafana X:Bad", "is not a header name"},
		{"upstream_jwks_path /keys", "upstream_jwks_path serves the keys of upstream_jwt, which is not set"},
		{"upstream_jwt grafana\n\t\tupstream_jwks_path /auth/user", "are both /auth/user"},
		{"upstream_jwt grafana\n\t\tupstream_jwks_path keys", "must be a path starting with /"},
		{"allow_preflight yes", "allow_preflight takes no value"},
		{"cookie_domain", "cookie_domain takes one value"},
	} {
		_, err := testcaddy.Adapt(fmt.Sprintf(":8080 {\n\tstauth %s {\n\t\t%s\n\t}\n}\n", secrets, c.options))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want one saying %q", c.options, err, c.want)
		}
	}
}

// BenchmarkServeHTTPUpstreamJWT is the gate of BenchmarkServeHTTPAuthenticated
// with upstream_jwt on: the session's assertion comes from the cache, signed
// once per 30 seconds. gate-ns/op and gate-allocs/op are, as there, what
// stauth adds to a no-op handler.
func BenchmarkServeHTTPUpstreamJWT(b *testing.B) {
	for _, c := range gateCases[:2] {
		b.Run(c.name, func(b *testing.B) {
			site, br := gateRequest(b, c)
			site.s.UpstreamJWT = &UpstreamJWT{Audience: "grafana"}
			if err := site.s.setUpAssertions(); err != nil {
				b.Fatal(err)
			}
			var got string
			next := caddyhttp.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) error {
				got = r.Header.Get(DefaultUpstreamJWTHeader)
				return nil
			})
			b.ReportAllocs()
			start := readMallocs()
			for b.Loop() {
				if err := site.s.ServeHTTP(br.w, br.next(), next); err != nil {
					b.Fatal(err)
				}
			}
			allocs := float64(readMallocs()-start) / float64(b.N)
			if got == "" {
				b.Fatal("the next handler got no assertion")
			}
			elapsed := b.Elapsed()
			baseNs, baseAllocs := baselineOf(b.N, br)
			b.ReportMetric(float64(elapsed.Nanoseconds())/float64(b.N)-baseNs, "gate-ns/op")
			b.ReportMetric(allocs-baseAllocs, "gate-allocs/op")
		})
	}
}

// BenchmarkSignAssertion is one assertion signed, as for a session not in
// the cache: what the cache saves on every other request.
func BenchmarkSignAssertion(b *testing.B) {
	site := newBenchSite(b, benchSiteOptions{})
	site.s.UpstreamJWT = &UpstreamJWT{Audience: "grafana"}
	if err := site.s.setUpAssertions(); err != nil {
		b.Fatal(err)
	}
	sess := &session{sub: "alice", email: "alice@example.com", claims: `{"groups":["admins","staff"]}`} // no id: never cached
	b.ReportAllocs()
	for b.Loop() {
		if _, err := site.s.assertions.assertion(sess, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}
