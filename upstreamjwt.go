package stauth

import (
	"cmp"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"go.uber.org/zap"
)

// Defaults of upstream_jwt.
const (
	DefaultUpstreamJWTHeader = "X-Stauth-Assertion"
	DefaultUpstreamJWKSPath  = "/auth/jwks.json"
)

// Lifetimes of an assertion: valid for assertionTTL, reused for
// assertionReuse, so an upstream always gets one with at least
// assertionTTL-assertionReuse left.
const (
	assertionTTL   = time.Minute
	assertionReuse = 30 * time.Second
	// maxCachedAssertions bounds the cache: past it, expired entries go,
	// and if none has, every entry does.
	maxCachedAssertions = 10000
)

// assertionKeyPurpose is the HKDF label of the signing key: no other key
// derived from cookie_secret uses it.
const assertionKeyPurpose = "stauth upstream jwt key"

// UpstreamJWT makes stauth tell the upstream who the user is in a signed
// JWT, which the upstream verifies with the public key served as a JWKS
// (upstream_jwks_path) instead of trusting a plain header.
type UpstreamJWT struct {
	// Audience is the JWT's aud: the upstream it is meant for. Required.
	Audience string `json:"audience"`
	// Header is the request header that carries it. Default:
	// X-Stauth-Assertion.
	Header string `json:"header,omitempty"`
}

// checkUpstreamJWT checks upstream_jwt and upstream_jwks_path.
func (s *Stauth) checkUpstreamJWT() error {
	if s.UpstreamJWT == nil && s.UpstreamJWKSPath != "" {
		return errors.New("stauth: upstream_jwks_path serves the keys of upstream_jwt, which is not set; add upstream_jwt <audience>")
	}
	return s.UpstreamJWT.validate()
}

// validate checks the settings of upstream_jwt; a nil one is off.
func (u *UpstreamJWT) validate() error {
	if u == nil {
		return nil
	}
	if strings.TrimSpace(u.Audience) == "" {
		return errors.New("stauth: upstream_jwt needs an audience, the upstream the JWT is for, such as: upstream_jwt grafana")
	}
	if u.Header == "" {
		return nil
	}
	for i := 0; i < len(u.Header); i++ {
		if c := u.Header[i]; c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return fmt.Errorf("stauth: upstream_jwt's header %q is not a header name such as X-Stauth-Assertion", u.Header)
		}
	}
	switch textproto.CanonicalMIMEHeaderKey(u.Header) {
	case "Cookie", "Authorization", "Host", "Content-Length", "Content-Type", "Transfer-Encoding", "Connection":
		return fmt.Errorf("stauth: upstream_jwt's header %q is one HTTP itself uses; choose another, such as X-Stauth-Assertion", u.Header)
	}
	return nil
}

// assertionSigner signs the assertions of one stauth and serves its keys.
type assertionSigner struct {
	signer   jose.Signer
	issuer   string
	audience string
	header   string // canonical
	jwks     []byte

	mu    sync.Mutex
	cache map[string]cachedAssertion
}

// cachedAssertion is a signed assertion of one session.
type cachedAssertion struct {
	token      string
	sub, email string
	reuseUntil int64 // Unix nanoseconds
}

// assertionClaims are the claims of an assertion.
type assertionClaims struct {
	Issuer   string `json:"iss"`
	Audience string `json:"aud"`
	Subject  string `json:"sub"`
	Email    string `json:"email,omitempty"`
	Groups   any    `json:"groups,omitempty"`
	IssuedAt int64  `json:"iat"`
	Expiry   int64  `json:"exp"`
}

// setUpAssertions derives the signing keys when upstream_jwt is set.
//
// The key is derived from cookie_secret rather than kept in Caddy's
// storage: every instance that shares secrets.toml then signs with the same
// key, with no storage to share, lock or back up, and rotating
// cookie_secret rotates it (the keys of cookie_secret_previous stay in the
// JWKS, so a verifier with a cached key set keeps working). The public key
// is public, so it is derived from the Argon2id master key of the secret,
// not from the secret itself: a guess at cookie_secret costs as much to
// test against the JWKS as against a cookie.
func (s *Stauth) setUpAssertions() error {
	if s.UpstreamJWT == nil {
		return nil
	}
	var set jose.JSONWebKeySet
	var current jose.JSONWebKey
	for i, secret := range s.secrets.cookieSecrets {
		key, err := assertionKey(masterKey(secret))
		if err != nil {
			return err
		}
		jwk := jose.JSONWebKey{Key: &key.PublicKey, Algorithm: string(jose.ES256), Use: "sig"}
		thumb, err := jwk.Thumbprint(crypto.SHA256)
		if err != nil {
			return err
		}
		jwk.KeyID = base64.RawURLEncoding.EncodeToString(thumb)
		if i == 0 {
			current = jose.JSONWebKey{Key: key, KeyID: jwk.KeyID, Algorithm: string(jose.ES256)}
		}
		if !slices.ContainsFunc(set.Keys, func(k jose.JSONWebKey) bool { return k.KeyID == jwk.KeyID }) {
			set.Keys = append(set.Keys, jwk)
		}
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: current}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return err
	}
	jwks, err := json.Marshal(set)
	if err != nil {
		return err
	}
	s.assertions = &assertionSigner{
		signer: signer, issuer: s.assertionIssuer(), audience: s.UpstreamJWT.Audience,
		header: textproto.CanonicalMIMEHeaderKey(cmp.Or(s.UpstreamJWT.Header, DefaultUpstreamJWTHeader)),
		jwks:   jwks, cache: map[string]cachedAssertion{},
	}
	return nil
}

// assertionIssuer is the iss of the assertions: the site, that is
// redirect_uri's origin, or scheme://cookie_domain with cookie_domain. A
// {port} in redirect_uri is left out: the issuer does not depend on the
// listener.
func (s *Stauth) assertionIssuer() string {
	site := parseRedirect(s.secrets.redirectURI)
	switch {
	case s.CookieDomain != "":
		return site.Scheme + "://" + s.CookieDomain
	case strings.Contains(s.secrets.redirectURI, "{port}"):
		return site.Scheme + "://" + site.Hostname()
	}
	return site.Scheme + "://" + site.Host
}

// assertionKey derives the P-256 signing key from a master key: HKDF-SHA256
// output taken as the scalar when it is in [1, n-1] (ParseRawPrivateKey
// refuses anything else), else the next counter's; a 32-byte output is out
// of range with a probability of about 2^-32, so the key is uniform.
func assertionKey(master []byte) (*ecdsa.PrivateKey, error) {
	for counter := range 64 {
		d, err := hkdf.Key(sha256.New, master, []byte("stauth"), fmt.Sprintf("%s %d", assertionKeyPurpose, counter), 32)
		if err != nil {
			return nil, err
		}
		if key, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d); err == nil {
			return key, nil
		}
	}
	return nil, errors.New("stauth: no upstream_jwt key could be derived from cookie_secret")
}

// assertIdentity replaces the assertion header of a request passed on: the
// user's assertion for a session, none for nil (logged out).
func (s *Stauth) assertIdentity(r *http.Request, sess *session) {
	a := s.assertions
	if a == nil {
		return
	}
	delete(r.Header, a.header)
	if sess == nil {
		return
	}
	token, err := a.assertion(sess, time.Now())
	if err != nil {
		s.logger.Error("the upstream assertion could not be signed; the request goes upstream without it", zap.String("provider", sess.provider), zap.Error(err))
		return
	}
	r.Header[a.header] = []string{token}
}

// assertion returns the session's assertion: a cached one while it has more
// than half its life left, else a new one. The cache is keyed by the
// session's random id and checked against its sub and email; claims that a
// refresh changed (such as groups) reach the upstream within assertionReuse.
func (a *assertionSigner) assertion(sess *session, now time.Time) (string, error) {
	key := sess.id
	if key != "" {
		a.mu.Lock()
		c, ok := a.cache[key]
		a.mu.Unlock()
		if ok && now.UnixNano() < c.reuseUntil && c.sub == sess.sub && c.email == sess.email {
			return c.token, nil
		}
	}
	payload, err := json.Marshal(assertionClaims{
		Issuer: a.issuer, Audience: a.audience, Subject: sess.sub, Email: sess.email, Groups: sess.allClaims()["groups"],
		IssuedAt: now.Unix(), Expiry: now.Add(assertionTTL).Unix(),
	})
	if err != nil {
		return "", err
	}
	signed, err := a.signer.Sign(payload)
	if err != nil {
		return "", err
	}
	token, err := signed.CompactSerialize()
	if err != nil || key == "" {
		return token, err
	}
	a.mu.Lock()
	makeRoom(a.cache, maxCachedAssertions, func(c cachedAssertion) bool { return now.UnixNano() >= c.reuseUntil })
	a.cache[key] = cachedAssertion{token: token, sub: sess.sub, email: sess.email, reuseUntil: now.Add(assertionReuse).UnixNano()}
	a.mu.Unlock()
	return token, nil
}

// serveJWKS answers the public keys of upstream_jwt.
func (s *Stauth) serveJWKS(w http.ResponseWriter, r *http.Request) error {
	if !allowMethods(w, r, http.MethodGet, http.MethodHead) {
		return nil
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(s.assertions.jwks)
	}
	return nil
}
