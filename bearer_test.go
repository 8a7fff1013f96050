package stauth

import (
	"cmp"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"go.uber.org/zap"
	"golang.org/x/oauth2"

	"github.com/stauth/caddy-stauth/internal/hostileop"
)

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
	signing := *key
	signing.Alg = alg // such as PS256 with an RS256 key
	typ, _ := header["typ"].(string)
	rest := map[string]any{}
	for k, v := range header {
		if k != "typ" {
			rest[k] = v
		}
	}
	raw, err := signing.SignJWT(cmp.Or(typ, "JWT"), claims, rest)
	if err != nil {
		t.Fatal(err)
	}
	return raw
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
		t.Fatalf("accepted (provider %q, claims %v); want refused with %q", id.session.provider, id.claims, want)
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
			if id.session.provider != "op" || id.claims["sub"] != hostileop.DefaultSubject || id.claims["iss"] != f.op.Issuer() {
				t.Fatalf("identity: provider %q, claims %v", id.session.provider, id.claims)
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
	if _, id, err := verify(next); err != nil || id.session.provider != "op" {
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
	// The failed discovery, then the one that worked: the algorithms come
	// from it too.
	if n := f.op.Count(hostileop.Discovery); n != 2 {
		t.Fatalf("%d discovery requests, want 2", n)
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
	if id.session.provider != "two" {
		t.Fatalf("provider %q, want two", id.session.provider)
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

// TestBearerThroughCaddy: with the bearer option, a site accepts the
// provider's JWTs from API clients with the allow rules and placeholders of
// a session, and answers every bad token 401 with a Bearer challenge, never
// a redirect (issue 11).
func TestBearerThroughCaddy(t *testing.T) {
	s := newTestSite(t, siteOptions{stauth: "bearer\n\t\t\tbearer_audiences https://api.example", authExtra: `expose_tokens = "id"`})
	rsa1 := hostileop.SharedRSAKey("rsa-1")
	claims := func(edit func(c map[string]any)) map[string]any {
		now := time.Now()
		c := map[string]any{"iss": s.OP.Issuer(), "sub": "api-client-7", "aud": s.OP.ClientID, "exp": now.Add(5 * time.Minute).Unix(), "iat": now.Unix(), "email": "robot@example.com", "email_verified": true, "name": "Robot"}
		if edit != nil {
			edit(c)
		}
		return c
	}
	b := s.browser(t)
	b.mustLogIn("/auth/login", "/")
	tokens, _ := b.user()["tokens"].(map[string]any)
	loginIDToken, _ := tokens["id"].(string)
	pubDER, err := x509.MarshalPKIXPublicKey(rsa1.Private.Public())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		token func(t *testing.T) string
		want  string // the page's identity; "" refuses
	}{
		{"RFC6750/ID-token-from-a-real-login", func(*testing.T) string { return loginIDToken }, "id=" + hostileop.DefaultSubject},
		{"RFC6750/minted-ID-token", func(t *testing.T) string { return mint(t, rsa1, jose.RS256, claims(nil), nil) }, "id=api-client-7 email=robot@example.com name=Robot"},
		{"RFC9068/JWT-access-token", func(t *testing.T) string {
			return mint(t, rsa1, jose.RS256, claims(func(c map[string]any) {
				c["aud"], c["scope"], c["client_id"] = "https://api.example", "api", s.OP.ClientID
			}), map[string]any{"typ": "at+jwt"})
		}, "id=api-client-7"},
		{"wrong-aud", func(t *testing.T) string {
			return mint(t, rsa1, jose.RS256, claims(func(c map[string]any) { c["aud"] = "another-client" }), nil)
		}, ""},
		{"wrong-iss", func(t *testing.T) string {
			return mint(t, rsa1, jose.RS256, claims(func(c map[string]any) { c["iss"] = "https://evil.example" }), nil)
		}, ""},
		{"expired", func(t *testing.T) string {
			return mint(t, rsa1, jose.RS256, claims(func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() }), nil)
		}, ""},
		{"HS256-signed-with-the-public-key", func(t *testing.T) string {
			opts := (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", rsa1.KID)
			return signJWT(t, jose.SigningKey{Algorithm: jose.HS256, Key: pubDER}, opts, claims(nil))
		}, ""},
		{"alg-none", func(t *testing.T) string {
			return b64json(t, map[string]any{"alg": "none", "typ": "JWT"}) + "." + b64json(t, claims(nil)) + "."
		}, ""},
		{"unknown-kid", func(t *testing.T) string {
			return mint(t, hostileop.SharedRSAKey("rogue"), jose.RS256, claims(nil), nil)
		}, ""},
		{"opaque", func(*testing.T) string { return "2YotnFZFEjr1zCsicMWpAA" }, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			// A navigation, so that a refused token that fell through to the
			// cookie gate would show as a redirect to the login.
			resp := s.browser(t).get("/private", "Authorization", "Bearer "+c.token(t))
			if c.want != "" {
				if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Body, c.want) || !strings.Contains(resp.Body, "logged_in=true") {
					t.Fatalf("a valid token: %s %s, want %q", resp.Status, resp.Body, c.want)
				}
				return
			}
			challenge := resp.Header.Get("WWW-Authenticate")
			if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(challenge, `Bearer error="invalid_token"`) || len(resp.Header["Set-Cookie"]) != 0 {
				t.Fatalf("a bad token: %s, WWW-Authenticate %q, Set-Cookie %q", resp.Status, challenge, resp.Header["Set-Cookie"])
			}
		})
	}
	t.Run("unknown-kids-fetch-the-keys-once", func(t *testing.T) {
		before := s.OP.Count(hostileop.JWKS)
		for i := range 10 {
			rogue := hostileop.SharedRSAKey(fmt.Sprintf("rogue-%d", i))
			s.browser(t).do(http.MethodGet, "/private", "Authorization", "Bearer "+mint(t, rogue, jose.RS256, claims(nil), nil))
		}
		if n := s.OP.Count(hostileop.JWKS) - before; n > 1 {
			t.Fatalf("10 tokens with unknown kids made %d key set fetches, want at most 1 a minute", n)
		}
	})
	t.Run("allow-rules-apply", func(t *testing.T) {
		ruled := newTestSite(t, siteOptions{stauth: "bearer\n\t\t\tallow_emails alice@example.com"})
		raw := mint(t, rsa1, jose.RS256, map[string]any{"iss": ruled.OP.Issuer(), "sub": "api-client-7", "aud": ruled.OP.ClientID, "exp": time.Now().Add(time.Minute).Unix(), "iat": time.Now().Unix(), "email": "robot@example.com", "email_verified": true}, nil)
		if resp := ruled.browser(t).do(http.MethodGet, "/private", "Authorization", "Bearer "+raw); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("a bearer user the rules keep out: %s", resp.Status)
		}
	})
}
