package stauth

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"go.uber.org/zap"
	"golang.org/x/oauth2"

	"github.com/stauth/caddy-stauth/internal/hostileop"
)

// testClock is a clock a test moves by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

// newTestClock returns a clock at the current time.
func newTestClock() *testClock { return &testClock{t: time.Now()} }

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// advance moves the clock on by d.
func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// bearerFixture is a hostile provider, stauth's view of it, and a clock.
type bearerFixture struct {
	op    *hostileop.Provider
	p     *provider
	clock *testClock
}

// newBearerFixture starts a provider named name and prepares stauth's
// provider for it (not discovered yet).
func newBearerFixture(t testing.TB, name string, b hostileop.Behaviour) *bearerFixture {
	t.Helper()
	op := hostileop.New(t, hostileop.Config{Behaviour: b})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ctx = context.WithValue(ctx, oauth2.HTTPClient, newProviderClient())
	pc := providerConfig{name: name, clientID: op.ClientID, clientSecret: op.ClientSecret, metadataURL: op.MetadataURL}
	return &bearerFixture{op: op, p: newProvider(ctx, pc, false, zap.NewNop()), clock: newTestClock()}
}

// verifier returns a new verifier of the fixture's provider.
func (f *bearerFixture) verifier(audiences ...string) *bearerVerifier {
	return newBearerVerifier([]*provider{f.p}, audiences, f.clock.now)
}

// claims are the claims of a genuine ID token of the provider at the
// fixture's time.
func (f *bearerFixture) claims() map[string]any {
	now := f.clock.now()
	return map[string]any{
		"iss":   f.op.Issuer(),
		"sub":   hostileop.DefaultSubject,
		"aud":   f.op.ClientID,
		"exp":   now.Add(5 * time.Minute).Unix(),
		"iat":   now.Unix(),
		"email": hostileop.DefaultEmail,
		"nonce": "n-0S6_WzA2Mj",
	}
}

// mint signs claims with key (its kid in the header, typ JWT unless header
// says otherwise).
func mint(t testing.TB, key *hostileop.Key, alg jose.SignatureAlgorithm, claims map[string]any, header map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", key.KID)
	for k, v := range header {
		opts = opts.WithHeader(jose.HeaderKey(k), v)
	}
	return signJWT(t, jose.SigningKey{Algorithm: alg, Key: key.Private}, opts, claims)
}

// signJWT signs claims with sk.
func signJWT(t testing.TB, sk jose.SigningKey, opts *jose.SignerOptions, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(sk, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// b64json is the base64url of v's JSON.
func b64json(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// checkRefused fails unless err is a *bearerError with description want
// that never shows the token.
func checkRefused(t *testing.T, raw string, id *bearerIdentity, err error, want string) {
	t.Helper()
	var be *bearerError
	switch {
	case err == nil:
		t.Fatalf("accepted (provider %q, claims %v); want refused with %q", id.provider, id.claims, want)
	case !errors.As(err, &be):
		t.Fatalf("error %T %v, want a *bearerError", err, err)
	case be.description != want:
		t.Fatalf("refused with %q (%v), want %q", be.description, err, want)
	}
	// The shortest token here is well above this length, so a match is an echo.
	if len(raw) >= 16 && (strings.Contains(err.Error(), raw) || strings.Contains(bearerChallenge(be.description), raw)) {
		t.Fatalf("the error or the challenge shows the token: %v", err)
	}
	for _, part := range strings.Split(raw, ".") {
		if len(part) >= 16 && strings.Contains(bearerChallenge(be.description), part) {
			t.Fatalf("the challenge shows part of the token")
		}
	}
}

// TestBearerVerify: a bearer JWT is accepted only when it is signed with a
// published key and an advertised asymmetric algorithm, names the
// provider's exact issuer, an accepted audience, a subject, and is valid now.
func TestBearerVerify(t *testing.T) {
	f := newBearerFixture(t, "op", hostileop.Behaviour{})
	rsa1 := hostileop.SharedRSAKey("rsa-1")
	rogue := hostileop.SharedRSAKey("rogue")
	now := f.clock.now()
	pubDER, err := x509.MarshalPKIXPublicKey(rsa1.Private.Public())
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	signed := func(edit func(c map[string]any)) func(t *testing.T) string {
		return func(t *testing.T) string {
			c := f.claims()
			edit(c)
			return mint(t, rsa1, jose.RS256, c, nil)
		}
	}
	hmac := func(secret []byte) func(t *testing.T) string {
		return func(t *testing.T) string {
			opts := (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", rsa1.KID)
			return signJWT(t, jose.SigningKey{Algorithm: jose.HS256, Key: secret}, opts, f.claims())
		}
	}
	literal := func(raw string) func(t *testing.T) string { return func(*testing.T) string { return raw } }
	for _, c := range []struct {
		name      string
		token     func(t *testing.T) string
		audiences []string
		want      string // "" accepts
	}{
		{name: "valid ID token", token: signed(func(map[string]any) {})},
		{name: "valid JWT access token (RFC 9068)", token: func(t *testing.T) string {
			c := f.claims()
			delete(c, "nonce")
			delete(c, "email")
			c["aud"] = []string{f.op.ClientID, "https://api.example"}
			c["client_id"], c["scope"], c["jti"] = f.op.ClientID, "openid api", "at-1"
			return mint(t, rsa1, jose.RS256, c, map[string]any{"typ": "at+jwt"})
		}},
		{name: "aud in bearer_audiences", audiences: []string{"https://api.example"}, token: signed(func(c map[string]any) { c["aud"] = "https://api.example" })},
		{name: "aud array with one allowed", audiences: []string{"https://api.example"}, token: signed(func(c map[string]any) { c["aud"] = []string{"https://other.example", "https://api.example"} })},
		{name: "nbf and iat within the clock skew", token: signed(func(c map[string]any) {
			c["nbf"], c["iat"] = now.Add(time.Minute).Unix(), now.Add(time.Minute).Unix()
		})},
		{name: "wrong aud", want: bearerAudience, token: signed(func(c map[string]any) { c["aud"] = "another-client" })},
		{name: "aud allowed for another site", audiences: []string{"https://api.example"}, want: bearerAudience, token: signed(func(c map[string]any) { c["aud"] = "https://api.other.example" })},
		{name: "no aud", want: bearerAudience, token: signed(func(c map[string]any) { delete(c, "aud") })},
		{name: "wrong iss", want: bearerUnknownIss, token: signed(func(c map[string]any) { c["iss"] = "https://evil.example" })},
		{name: "iss with a trailing slash", want: bearerUnknownIss, token: signed(func(c map[string]any) { c["iss"] = f.op.URL + "/" })},
		{name: "no iss", want: bearerUnknownIss, token: signed(func(c map[string]any) { delete(c, "iss") })},
		{name: "expired", want: bearerExpired, token: signed(func(c map[string]any) { c["exp"] = now.Add(-time.Second).Unix() })},
		{name: "no exp", want: bearerExpired, token: signed(func(c map[string]any) { delete(c, "exp") })},
		{name: "nbf in the future", want: bearerNotYetValid, token: signed(func(c map[string]any) { c["nbf"] = now.Add(10 * time.Minute).Unix() })},
		{name: "nbf not a number", want: bearerMalformed, token: signed(func(c map[string]any) { c["nbf"] = "soon" })},
		{name: "iat in the future", want: bearerIssuedLater, token: signed(func(c map[string]any) { c["iat"] = now.Add(10 * time.Minute).Unix() })},
		{name: "no iat", want: bearerIssuedLater, token: signed(func(c map[string]any) { delete(c, "iat") })},
		{name: "no sub", want: bearerNoSubject, token: signed(func(c map[string]any) { delete(c, "sub") })},
		{name: "empty sub", want: bearerNoSubject, token: signed(func(c map[string]any) { c["sub"] = "" })},
		{name: "HS256 keyed with the public key (PEM)", want: bearerNotJWT, token: hmac(pubPEM)},
		{name: "HS256 keyed with the public key (DER)", want: bearerNotJWT, token: hmac(pubDER)},
		{name: "HS256 keyed with the client secret", want: bearerNotJWT, token: hmac([]byte(f.op.ClientSecret))},
		{name: "alg none", want: bearerNotJWT, token: func(t *testing.T) string {
			return b64json(t, map[string]any{"alg": "none", "typ": "JWT", "kid": rsa1.KID}) + "." + b64json(t, f.claims()) + "."
		}},
		{name: "alg none with a signature", want: bearerNotJWT, token: func(t *testing.T) string {
			return b64json(t, map[string]any{"alg": "none", "kid": rsa1.KID}) + "." + b64json(t, f.claims()) + ".c2lnbmF0dXJl"
		}},
		{name: "PS256 with the published RSA key, not advertised", want: bearerMalformed, token: func(t *testing.T) string {
			return mint(t, rsa1, jose.PS256, f.claims(), nil)
		}},
		{name: "signed by an unpublished key", want: bearerUnknownKey, token: func(t *testing.T) string {
			return mint(t, rogue, jose.RS256, f.claims(), nil)
		}},
		{name: "unpublished key claiming the published kid", want: bearerBadSignature, token: func(t *testing.T) string {
			return mint(t, &hostileop.Key{KID: rsa1.KID, Alg: jose.RS256, Private: rogue.Private}, jose.RS256, f.claims(), nil)
		}},
		{name: "signature bits flipped", want: bearerBadSignature, token: func(t *testing.T) string {
			parts := strings.Split(mint(t, rsa1, jose.RS256, f.claims(), nil), ".")
			sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
			sig[len(sig)/2] ^= 1
			return parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig)
		}},
		{name: "claims changed after signing", want: bearerBadSignature, token: func(t *testing.T) string {
			parts := strings.Split(mint(t, rsa1, jose.RS256, f.claims(), nil), ".")
			c := f.claims()
			c["sub"] = "mallory"
			return parts[0] + "." + b64json(t, c) + "." + parts[2]
		}},
		{name: "opaque token", want: bearerNotJWT, token: literal("2YotnFZFEjr1zCsicMWpAA-opaque-access-token")},
		{name: "garbage with three parts", want: bearerNotJWT, token: literal("not-base64!.@@@@@@@@@@@@@@@@@@@@.%%%%%%%%%%%%%%%%")},
		{name: "header not JSON", want: bearerNotJWT, token: literal(base64.RawURLEncoding.EncodeToString([]byte("garbage header")) + ".e30.c2ln")},
		{name: "claims not JSON", want: bearerNotJWT, token: func(t *testing.T) string {
			h := b64json(t, map[string]any{"alg": "RS256", "kid": rsa1.KID})
			return h + "." + base64.RawURLEncoding.EncodeToString([]byte("not json at all")) + ".c2lnbmF0dXJlc2lnbmF0dXJl"
		}},
		{name: "JWE (five parts)", want: bearerNotJWT, token: literal("eyJhbGciOiJSU0EtT0FFUCJ9.a2V5a2V5a2V5.aXZpdml2.Y2lwaGVydGV4dA.dGFndGFn")},
		{name: "too long", want: bearerTooLong, token: literal(strings.Repeat("a", maxBearerToken+1))},
	} {
		t.Run(c.name, func(t *testing.T) {
			raw := c.token(t)
			v := newBearerVerifier([]*provider{f.p}, c.audiences, f.clock.now)
			id, err := v.verify(context.Background(), raw)
			if c.want != "" {
				checkRefused(t, raw, id, err, c.want)
				if n := v.cache.len(); n != 0 {
					t.Fatalf("a refused token left %d cache entries", n)
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if id.provider != "op" || id.claims["sub"] != hostileop.DefaultSubject || id.claims["iss"] != f.op.Issuer() {
				t.Fatalf("identity: provider %q, claims %v", id.provider, id.claims)
			}
		})
	}
}

// TestBearerUnknownKidFetchesOnce: tokens naming keys the provider does not
// publish fetch its key set at most once a minute, however many there are.
func TestBearerUnknownKidFetchesOnce(t *testing.T) {
	f := newBearerFixture(t, "op", hostileop.Behaviour{})
	v := f.verifier()
	rogue := hostileop.SharedRSAKey("rogue")
	forged := func(i int) string {
		k := &hostileop.Key{KID: fmt.Sprintf("forged-%d", i), Alg: jose.RS256, Private: rogue.Private}
		return mint(t, k, jose.RS256, f.claims(), nil)
	}
	tokens := make([]string, 40)
	for i := range tokens {
		tokens[i] = forged(i)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(tokens))
	for i, raw := range tokens {
		wg.Go(func() { _, errs[i] = v.verify(context.Background(), raw) })
	}
	wg.Wait()
	for i, err := range errs {
		checkRefused(t, tokens[i], nil, err, bearerUnknownKey)
	}
	if n := f.op.Count(hostileop.JWKS); n != 1 {
		t.Fatalf("%d concurrent forged tokens made %d key set fetches, want 1", len(tokens), n)
	}
	f.clock.advance(59 * time.Second)
	for i := range 20 {
		raw := forged(100 + i)
		_, err := v.verify(context.Background(), raw)
		checkRefused(t, raw, nil, err, bearerUnknownKey)
	}
	if n := f.op.Count(hostileop.JWKS); n != 1 {
		t.Fatalf("forged tokens within the minute made %d key set fetches, want 1", n)
	}
	f.clock.advance(2 * time.Second)
	for i := range 20 {
		raw := forged(200 + i)
		_, err := v.verify(context.Background(), raw)
		checkRefused(t, raw, nil, err, bearerUnknownKey)
	}
	if n := f.op.Count(hostileop.JWKS); n != 2 {
		t.Fatalf("forged tokens a minute later made %d key set fetches in all, want 2", n)
	}
	if _, err := v.verify(context.Background(), mint(t, hostileop.SharedRSAKey("rsa-1"), jose.RS256, f.claims(), nil)); err != nil {
		t.Fatalf("a genuine token after the flood: %v", err)
	}
	if n := f.op.Count(hostileop.JWKS); n != 2 {
		t.Fatalf("a genuine token with a known key fetched the key set (%d fetches)", n)
	}
}

// TestBearerKeyRotation: a key the provider starts signing with is picked up
// once the last fetch is a minute old; a key it dropped stops verifying.
func TestBearerKeyRotation(t *testing.T) {
	f := newBearerFixture(t, "op", hostileop.Behaviour{})
	v := f.verifier()
	old, next := hostileop.SharedRSAKey("rsa-1"), hostileop.SharedRSAKey("rsa-2")
	verify := func(key *hostileop.Key) (string, *bearerIdentity, error) {
		raw := mint(t, key, jose.RS256, f.claims(), nil)
		id, err := v.verify(context.Background(), raw)
		return raw, id, err
	}
	oldRaw, _, err := verify(old)
	if err != nil {
		t.Fatalf("before the rotation: %v", err)
	}
	f.op.Set(func(b *hostileop.Behaviour) {
		b.SigningKey = next
		b.PublishedKeys = []*hostileop.Key{next}
	})
	f.clock.advance(30 * time.Second)
	raw, id, err := verify(next)
	checkRefused(t, raw, id, err, bearerUnknownKey)
	f.clock.advance(31 * time.Second)
	if _, id, err := verify(next); err != nil || id.provider != "op" {
		t.Fatalf("the new key a minute after the last fetch: %v", err)
	}
	raw, id, err = verify(old)
	checkRefused(t, raw, id, err, bearerUnknownKey)
	if n := f.op.Count(hostileop.JWKS); n != 2 {
		t.Fatalf("%d key set fetches, want 2 (first token, then the rotation)", n)
	}
	// A token verified before the rotation is still answered from the cache
	// until its entry ends (bearerCacheTTL at most).
	if _, err := v.verify(context.Background(), oldRaw); err != nil {
		t.Fatalf("a cached token within bearerCacheTTL: %v", err)
	}
	f.clock.advance(bearerCacheTTL)
	_, err = v.verify(context.Background(), oldRaw)
	checkRefused(t, oldRaw, nil, err, bearerUnknownKey)
}

// TestBearerKeysUnavailable: a key set that cannot be fetched refuses
// tokens as unverifiable, is tried again after keyRetryInterval rather than
// at each token, and is used once the provider serves it.
func TestBearerKeysUnavailable(t *testing.T) {
	f := newBearerFixture(t, "op", hostileop.Behaviour{Faults: map[hostileop.Endpoint]hostileop.Fault{hostileop.JWKS: {Status: 503}}})
	v := f.verifier()
	key := hostileop.SharedRSAKey("rsa-1")
	for range 5 {
		raw := mint(t, key, jose.RS256, f.claims(), nil)
		id, err := v.verify(context.Background(), raw)
		checkRefused(t, raw, id, err, bearerUnavailable)
	}
	if n := f.op.Count(hostileop.JWKS); n != 1 {
		t.Fatalf("%d key set fetches while it fails, want 1 within keyRetryInterval", n)
	}
	f.op.Set(func(b *hostileop.Behaviour) { b.Faults = nil })
	f.clock.advance(keyRetryInterval)
	if _, err := v.verify(context.Background(), mint(t, key, jose.RS256, f.claims(), nil)); err != nil {
		t.Fatalf("after the provider recovered: %v", err)
	}
	if n := f.op.Count(hostileop.JWKS); n != 2 {
		t.Fatalf("%d key set fetches, want 2", n)
	}
}

// TestBearerDiscoveryDown: a provider whose discovery fails refuses its
// tokens as unverifiable, is asked again only after keyRetryInterval, and is
// used once it answers.
func TestBearerDiscoveryDown(t *testing.T) {
	f := newBearerFixture(t, "op", hostileop.Behaviour{Faults: map[hostileop.Endpoint]hostileop.Fault{hostileop.Discovery: {Status: 500}}})
	v := f.verifier()
	raw := mint(t, hostileop.SharedRSAKey("rsa-1"), jose.RS256, f.claims(), nil)
	for range 10 {
		id, err := v.verify(context.Background(), raw)
		checkRefused(t, raw, id, err, bearerUnavailable)
	}
	if n := f.op.Count(hostileop.Discovery); n != 1 {
		t.Fatalf("%d discovery requests within keyRetryInterval, want 1", n)
	}
	f.op.Set(func(b *hostileop.Behaviour) { b.Faults = nil })
	f.clock.advance(keyRetryInterval)
	if _, err := v.verify(context.Background(), raw); err != nil {
		t.Fatalf("after discovery recovered: %v", err)
	}
	// Discovery, then the document again for the algorithms.
	if n := f.op.Count(hostileop.Discovery); n != 3 {
		t.Fatalf("%d discovery requests, want 3", n)
	}
}

// TestBearerMetadataChanged: the algorithms come from the discovery
// document discovery read; one that since names another jwks_uri is not
// trusted.
func TestBearerMetadataChanged(t *testing.T) {
	f := newBearerFixture(t, "op", hostileop.Behaviour{})
	if _, err := f.p.discover(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.op.Set(func(b *hostileop.Behaviour) {
		b.Metadata = func(doc map[string]any) { doc["jwks_uri"] = "http://127.0.0.1:1/other-keys" }
	})
	raw := mint(t, hostileop.SharedRSAKey("rsa-1"), jose.RS256, f.claims(), nil)
	id, err := f.verifier().verify(context.Background(), raw)
	checkRefused(t, raw, id, err, bearerUnavailable)
	var bad *metadataError
	if !errors.As(err, &bad) {
		t.Fatalf("error %v, want a metadataError", err)
	}
	if n := f.op.Count(hostileop.JWKS); n != 0 {
		t.Fatalf("%d key set fetches, want none", n)
	}
}

// TestBearerRoutesByIssuer: each token is checked by the provider its iss
// names, and providers it does not name are not asked anything.
func TestBearerRoutesByIssuer(t *testing.T) {
	one := newBearerFixture(t, "one", hostileop.Behaviour{})
	two := newBearerFixture(t, "two", hostileop.Behaviour{SigningKey: hostileop.SharedECKey("ec-1")})
	v := newBearerVerifier([]*provider{one.p, two.p}, nil, one.clock.now)
	raw := mint(t, hostileop.SharedECKey("ec-1"), jose.ES256, two.claims(), nil)
	id, err := v.verify(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	if id.provider != "two" {
		t.Fatalf("provider %q, want two", id.provider)
	}
	if n := len(one.op.Requests()); n != 0 {
		t.Fatalf("the provider the token does not name got %d requests", n)
	}
	// The same key and claims, but one's iss: one's key set lacks ec-1.
	c := two.claims()
	c["iss"], c["aud"] = one.op.Issuer(), one.op.ClientID
	raw = mint(t, hostileop.SharedECKey("ec-1"), jose.ES256, c, nil)
	id, err = v.verify(context.Background(), raw)
	checkRefused(t, raw, id, err, bearerMalformed) // one advertises RS256 only
}

// TestBearerCache: a verified token is answered from the cache until its
// exp or bearerCacheTTL, whichever comes first.
func TestBearerCache(t *testing.T) {
	f := newBearerFixture(t, "op", hostileop.Behaviour{})
	v := f.verifier()
	key := hostileop.SharedRSAKey("rsa-1")
	for _, c := range []struct {
		name     string
		lifetime time.Duration
		cached   time.Duration // how long a repeat is answered from the cache
	}{
		{"short-lived token", 2 * time.Minute, 2 * time.Minute},
		{"long-lived token", time.Hour, bearerCacheTTL},
	} {
		t.Run(c.name, func(t *testing.T) {
			claims := f.claims()
			claims["exp"] = f.clock.now().Add(c.lifetime).Unix()
			raw := mint(t, key, jose.RS256, claims, nil)
			first, err := v.verify(context.Background(), raw)
			if err != nil {
				t.Fatal(err)
			}
			f.clock.advance(c.cached - time.Second)
			again, err := v.verify(context.Background(), raw)
			if err != nil || again != first {
				t.Fatalf("a repeat within %v was not answered from the cache (err %v)", c.cached, err)
			}
			f.clock.advance(time.Second)
			later, err := v.verify(context.Background(), raw)
			switch {
			case c.lifetime == c.cached:
				checkRefused(t, raw, later, err, bearerExpired)
			case err != nil:
				t.Fatalf("checked again after the cache entry ended: %v", err)
			case later == first:
				t.Fatal("answered from the cache after bearerCacheTTL")
			}
		})
	}
}

// TestBearerConcurrent: requests presenting the same and different tokens
// at once all get the token's identity (run with -race).
func TestBearerConcurrent(t *testing.T) {
	f := newBearerFixture(t, "op", hostileop.Behaviour{})
	v := f.verifier()
	key := hostileop.SharedRSAKey("rsa-1")
	tokens := make([]string, 4)
	for i := range tokens {
		c := f.claims()
		c["sub"] = fmt.Sprintf("user-%d", i)
		tokens[i] = mint(t, key, jose.RS256, c, nil)
	}
	var wg sync.WaitGroup
	errs := make([]error, 32)
	for i := range errs {
		wg.Go(func() {
			id, err := v.verify(context.Background(), tokens[i%len(tokens)])
			if err == nil && id.claims["sub"] != fmt.Sprintf("user-%d", i%len(tokens)) {
				err = fmt.Errorf("sub %v for token %d", id.claims["sub"], i%len(tokens))
			}
			errs[i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if n := v.cache.len(); n != len(tokens) {
		t.Fatalf("%d cache entries, want %d", n, len(tokens))
	}
	if n := f.op.Count(hostileop.JWKS); n != 1 {
		t.Fatalf("%d key set fetches, want 1", n)
	}
}

// TestBearerCacheBounded: a full cache drops its expired entries first,
// and never holds more than its size.
func TestBearerCacheBounded(t *testing.T) {
	c := newBearerCache(100)
	now := time.Now()
	id := &bearerIdentity{provider: "op"}
	key := func(i int) [32]byte { return [32]byte{byte(i), byte(i >> 8), 1} }
	for i := range 50 {
		c.put(key(i), id, now.Add(time.Second), now)
	}
	for i := 50; i < 100; i++ {
		c.put(key(i), id, now.Add(time.Hour), now)
	}
	later := now.Add(2 * time.Second)
	c.put(key(100), id, now.Add(time.Hour), later)
	if n := c.len(); n != 51 {
		t.Fatalf("%d entries after the sweep, want 51 (the 50 expired ones dropped, nothing else)", n)
	}
	for i := 50; i <= 100; i++ {
		if c.get(key(i), later) != id {
			t.Fatalf("live entry %d was dropped while expired ones could go", i)
		}
	}
	for i := 101; i < 2000; i++ {
		c.put(key(i), id, now.Add(time.Hour), later)
		if n := c.len(); n > 100 {
			t.Fatalf("%d entries after %d insertions, want at most 100", n, i+1)
		}
	}
	if c.get(key(1999), later) != id {
		t.Fatal("the newest entry is missing")
	}
}

// TestBearerChallenge: the WWW-Authenticate value names invalid_token and
// keeps the description to what a quoted-string allows.
func TestBearerChallenge(t *testing.T) {
	for _, c := range []struct{ description, want string }{
		{bearerExpired, `Bearer error="invalid_token", error_description="the token has expired or has no exp"`},
		{"", `Bearer error="invalid_token"`},
		{"a \"quoted\\\" \r\nvalue\x00é", `Bearer error="invalid_token", error_description="a quoted value"`},
	} {
		if got := bearerChallenge(c.description); got != c.want {
			t.Errorf("bearerChallenge(%q) = %q", c.description, got)
		}
	}
}

// TestBearerToken: the token of an Authorization header.
func TestBearerToken(t *testing.T) {
	for _, c := range []struct {
		header, want string
		ok           bool
	}{
		{"Bearer abc.def.ghi", "abc.def.ghi", true},
		{"bearer abc", "abc", true},
		{"BEARER   abc", "abc", true},
		{"Bearer ", "", false},
		{"Bearer", "", false},
		{"Basic dXNlcjpwYXNz", "", false},
		{"", "", false},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		if c.header != "" {
			r.Header.Set("Authorization", c.header)
		}
		if got, ok := bearerToken(r); got != c.want || ok != c.ok {
			t.Errorf("bearerToken(%q) = %q, %v; want %q, %v", c.header, got, ok, c.want, c.ok)
		}
	}
}

// BenchmarkBearerVerify is a token seen for the first time: parse, RS256
// (2048-bit) signature check, claim checks. The cache is emptied between
// iterations (a clear of a one-entry map).
func BenchmarkBearerVerify(b *testing.B) {
	f := newBearerFixture(b, "op", hostileop.Behaviour{})
	v := f.verifier()
	raw := mint(b, hostileop.SharedRSAKey("rsa-1"), jose.RS256, f.claims(), nil)
	ctx := context.Background()
	if _, err := v.verify(ctx, raw); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		v.cache.mu.Lock()
		clear(v.cache.entries)
		v.cache.mu.Unlock()
		if _, err := v.verify(ctx, raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBearerCached is a token verified before: a SHA-256 and a map
// lookup.
func BenchmarkBearerCached(b *testing.B) {
	f := newBearerFixture(b, "op", hostileop.Behaviour{})
	v := f.verifier()
	raw := mint(b, hostileop.SharedRSAKey("rsa-1"), jose.RS256, f.claims(), nil)
	ctx := context.Background()
	first, err := v.verify(ctx, raw)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if id, err := v.verify(ctx, raw); err != nil || id != first {
			b.Fatal("not answered from the cache")
		}
	}
}
