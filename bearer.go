package stauth

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"golang.org/x/sync/singleflight"
)

// Limits of bearer token verification.
const (
	// maxBearerToken is the longest token looked at; longer is refused
	// before any parsing.
	maxBearerToken = 16 << 10
	// bearerCacheTTL is how long a verified token is remembered at most (its
	// exp may end it sooner).
	bearerCacheTTL = 5 * time.Minute
	// maxBearerCache is how many verified tokens are remembered.
	maxBearerCache = 10_000
)

// bearerIdentity is a verified bearer token: its claims, its expiry, and
// the session it stands for (which names the provider). It is shared by
// every request presenting the same token, so it must not be modified.
type bearerIdentity struct {
	claims map[string]any
	expiry time.Time
	// session is the token as a session, for the allow rules and the
	// placeholders: read-only, shared by every request with the token.
	session *session
}

// bearerError is a bearer token stauth refuses. description is safe to send
// to the client (it never holds the token or its claims); err is the cause,
// for the log.
type bearerError struct {
	description string
	err         error
}

func (e *bearerError) Error() string {
	if e.err == nil {
		return "bearer token refused: " + e.description
	}
	return "bearer token refused: " + e.description + ": " + e.err.Error()
}

func (e *bearerError) Unwrap() error { return e.err }

// refuseBearer returns a bearerError.
func refuseBearer(description string, err error) *bearerError {
	return &bearerError{description: description, err: err}
}

// What a refused bearer token is told (RFC 6750 §3 error_description).
const (
	bearerLoggedOut    = "the token's user or provider session was logged out after it was issued"
	bearerNotJWT       = "the token is not a JWT signed with an asymmetric algorithm"
	bearerTooLong      = "the token is too long"
	bearerUnknownIss   = "the token's issuer is not a provider of this site"
	bearerUnavailable  = "the token's provider cannot be reached to check it"
	bearerBadSignature = "the token's signature is not valid"
	bearerUnknownKey   = "the token is signed with a key its provider does not publish"
	bearerMalformed    = "the token is malformed or signed with an algorithm its provider does not use"
	bearerAudience     = "the token is not meant for this site"
	bearerExpired      = "the token has expired or has no exp"
	bearerNotYetValid  = "the token is not valid yet"
	bearerIssuedLater  = "the token's iat is missing or in the future"
	bearerNoSubject    = "the token has no sub"
)

// bearerVerifier checks bearer JWTs, ID tokens or access tokens, issued by
// the site's providers.
type bearerVerifier struct {
	providers []*provider
	// audiences are accepted in aud besides the provider's client_id.
	audiences []string
	now       func() time.Time
	cache     *bearerCache

	setup    singleflight.Group
	mu       sync.Mutex
	issuers  map[*provider]*bearerIssuer
	failures map[*provider]setUpFailure
}

// bearerIssuer is what checks one provider's tokens.
type bearerIssuer struct {
	issuer   string
	verifier *oidc.IDTokenVerifier
}

// newBearerVerifier returns a verifier for tokens of providers whose aud
// names the provider's client_id or one of audiences; now is the clock
// (time.Now when nil).
func newBearerVerifier(providers []*provider, audiences []string, now func() time.Time) *bearerVerifier {
	if now == nil {
		now = time.Now
	}
	return &bearerVerifier{
		providers: providers,
		audiences: slices.Clone(audiences),
		now:       now,
		cache:     newBearerCache(maxBearerCache),
		issuers:   map[*provider]*bearerIssuer{},
		failures:  map[*provider]setUpFailure{},
	}
}

// verify checks a bearer token and returns who it names. A token seen
// before and still valid is answered from the cache; every error is a
// *bearerError.
func (v *bearerVerifier) verify(ctx context.Context, raw string) (*bearerIdentity, error) {
	if len(raw) > maxBearerToken {
		return nil, refuseBearer(bearerTooLong, nil)
	}
	key := sha256.Sum256([]byte(raw))
	now := v.now()
	if id := v.cache.get(key, now); id != nil {
		return id, nil
	}
	iss, err := unverifiedIssuer(raw)
	if err != nil {
		return nil, refuseBearer(bearerNotJWT, err)
	}
	var firstErr error
	for _, p := range v.providers {
		if !mayIssue(p, iss) {
			continue
		}
		id, err := v.verifyFor(ctx, p, iss, raw)
		if err == nil {
			err = id.makeSession(p, now)
		}
		if err == nil {
			until := now.Add(bearerCacheTTL)
			if id.expiry.Before(until) {
				until = id.expiry
			}
			v.cache.put(key, id, until, now)
			return id, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	if firstErr == nil {
		firstErr = refuseBearer(bearerUnknownIss, nil)
	}
	return nil, firstErr
}

// unverifiedIssuer reads the iss of a compact JWS without checking it, only
// to choose the provider that will check it. Its header must name an
// asymmetric algorithm. A token without iss gets "", which no provider has.
func unverifiedIssuer(raw string) (string, error) {
	if strings.Count(raw, ".") != 2 {
		return "", errors.New("not a compact JWS")
	}
	jws, err := jose.ParseSigned(raw, asymmetricJoseAlgs)
	if err != nil {
		return "", err
	}
	var claims struct {
		Issuer string `json:"iss"`
	}
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &claims); err != nil {
		return "", err
	}
	return claims.Issuer, nil
}

// asymmetricJoseAlgs are asymmetricAlgs for go-jose.
var asymmetricJoseAlgs = func() []jose.SignatureAlgorithm {
	algs := make([]jose.SignatureAlgorithm, len(asymmetricAlgs))
	for i, alg := range asymmetricAlgs {
		algs[i] = jose.SignatureAlgorithm(alg)
	}
	return algs
}()

// mayIssue tells whether iss can be p's issuer, known before discovery: its
// discovery document must be at iss + /.well-known/openid-configuration
// (see checkMetadata).
func mayIssue(p *provider, iss string) bool {
	return strings.TrimSuffix(iss, "/")+"/.well-known/openid-configuration" == p.metadataURL
}

// verifyFor checks raw as a token of p.
func (v *bearerVerifier) verifyFor(ctx context.Context, p *provider, iss, raw string) (*bearerIdentity, error) {
	bi, err := v.issuerFor(ctx, p)
	if err != nil {
		return nil, refuseBearer(bearerUnavailable, err)
	}
	if iss != bi.issuer {
		return nil, refuseBearer(bearerUnknownIss, nil)
	}
	var keyErr error
	idt, err := bi.verifier.Verify(withKeyErrorSlot(ctx, &keyErr), raw)
	switch {
	case keyErr != nil:
		return nil, refuseBearer(keyErrorDescription(keyErr), keyErr)
	case err != nil:
		return nil, refuseBearer(bearerMalformed, err)
	}
	if err := v.checkClaims(p, idt); err != nil {
		return nil, err
	}
	claims := map[string]any{}
	if err := idt.Claims(&claims); err != nil {
		return nil, refuseBearer(bearerMalformed, err)
	}
	if nbf, ok := claims["nbf"]; ok {
		f, isNum := nbf.(float64)
		if !isNum {
			return nil, refuseBearer(bearerMalformed, errors.New("nbf is not a number"))
		}
		if time.Unix(int64(f), 0).Sub(v.now()) > maxClockSkew {
			return nil, refuseBearer(bearerNotYetValid, nil)
		}
	}
	return &bearerIdentity{claims: claims, expiry: idt.Expiry}, nil
}

// keyErrorDescription tells the client why the signature check failed.
func keyErrorDescription(err error) string {
	var unavailable *keysUnavailableError
	switch {
	case errors.As(err, &unavailable), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return bearerUnavailable
	case errors.Is(err, errUnknownKey):
		return bearerUnknownKey
	}
	return bearerBadSignature
}

// checkClaims checks what go-oidc leaves to its caller here: aud (the
// client_id or an allowed audience), exp (required), iat (required, not
// ahead of the clock by more than maxClockSkew) and sub.
func (v *bearerVerifier) checkClaims(p *provider, idt *oidc.IDToken) error {
	now := v.now()
	switch {
	case !slices.Contains(idt.Audience, p.clientID) && !slices.ContainsFunc(idt.Audience, func(aud string) bool { return slices.Contains(v.audiences, aud) }):
		return refuseBearer(bearerAudience, nil)
	case idt.Expiry.IsZero() || !now.Before(idt.Expiry):
		return refuseBearer(bearerExpired, nil)
	case idt.IssuedAt.IsZero() || idt.IssuedAt.Sub(now) > maxClockSkew:
		return refuseBearer(bearerIssuedLater, nil)
	case idt.Subject == "":
		return refuseBearer(bearerNoSubject, nil)
	}
	return nil
}

// issuerFor returns what checks p's tokens, set up at the first token of p.
// A failed set-up is answered again for keyRetryInterval, so tokens naming
// a provider that is down do not each send it a request.
func (v *bearerVerifier) issuerFor(ctx context.Context, p *provider) (*bearerIssuer, error) {
	v.mu.Lock()
	bi, err := v.issuers[p], v.setUpError(p)
	v.mu.Unlock()
	switch {
	case bi != nil:
		return bi, nil
	case err != nil:
		return nil, err
	}
	ch := v.setup.DoChan(p.name, func() (any, error) { return v.setUp(p) })
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*bearerIssuer), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// setUpError is the error of p's last set-up while it is recent; v.mu is
// held.
func (v *bearerVerifier) setUpError(p *provider) error {
	if f, ok := v.failures[p]; ok && v.now().Sub(f.at) < keyRetryInterval {
		return f.err
	}
	return nil
}

// setUpFailure is a failed set-up of a provider.
type setUpFailure struct {
	at  time.Time
	err error
}

// setUp discovers p, reads its algorithms and makes its verifier and key
// set, unless a set-up that ended while this one was being decided already
// did or failed.
func (v *bearerVerifier) setUp(p *provider) (*bearerIssuer, error) {
	v.mu.Lock()
	bi, err := v.issuers[p], v.setUpError(p)
	v.mu.Unlock()
	if bi != nil || err != nil {
		return bi, err
	}
	bi, err = v.newIssuer(p)
	v.mu.Lock()
	defer v.mu.Unlock()
	if err != nil {
		v.failures[p] = setUpFailure{at: v.now(), err: err}
		return nil, err
	}
	delete(v.failures, p)
	v.issuers[p] = bi
	return bi, nil
}

// newIssuer makes what checks p's tokens: go-oidc's verifier of its issuer
// with a keySet of its jwks_uri, for its advertised asymmetric algorithms.
func (v *bearerVerifier) newIssuer(p *provider) (*bearerIssuer, error) {
	ctx, cancel := context.WithTimeout(p.ctx, providerTimeout)
	defer cancel()
	d, err := p.discover(ctx)
	if err != nil {
		return nil, err
	}
	keys := newKeySet(p.ctx, d.jwksURI, p.client(), d.algs, v.now)
	config := &oidc.Config{SkipClientIDCheck: true, SkipExpiryCheck: true, SupportedSigningAlgs: d.algs, Now: v.now}
	return &bearerIssuer{issuer: d.issuer, verifier: oidc.NewVerifier(d.issuer, keys, config)}, nil
}

// makeSession makes the session a verified token stands for: its claims,
// bound to its provider, valid until the token expires.
func (id *bearerIdentity) makeSession(p *provider, now time.Time) error {
	issued := now.Unix()
	if iat, ok := id.claims["iat"].(float64); ok {
		issued = int64(iat) // so that a logout of the user before it ends it
	}
	sess := &session{provider: p.name, binding: p.binding, issued: issued, lastUsed: now.Unix(), expires: id.expiry.Unix()}
	sess.sid, _ = id.claims["sid"].(string)
	if err := sess.setClaims(id.claims); err != nil {
		return refuseBearer(bearerNotJWT, err)
	}
	id.session = sess
	return nil
}
