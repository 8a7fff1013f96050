// Package hostileop is a scriptable OpenID provider for attack tests: it runs
// a real authorization-code flow (discovery, JWKS, authorize, token,
// userinfo, end_session) on a free localhost port, and each test tells it
// how to misbehave: what discovery says, which key signs, which claims the
// ID token carries, which status codes, hangs and oversized bodies the
// endpoints answer. A request log, safe for concurrent use, lets a test
// assert what the relying party asked for, such as that no token request
// happened.
//
// Without instructions it behaves like a strict provider: its authorize
// endpoint redirects straight back to redirect_uri with a code (there is no
// login form), and its token endpoint checks client_secret_basic, the code
// (single use, bound to its client and redirect_uri) and PKCE S256.
//
// It is test support only: it imports go-jose and the standard library.
package hostileop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Endpoint names one of the provider's endpoints in the log and in Faults.
type Endpoint string

// The provider's endpoints.
const (
	Discovery  Endpoint = "discovery"
	JWKS       Endpoint = "jwks"
	Authorize  Endpoint = "authorize"
	Token      Endpoint = "token"
	Userinfo   Endpoint = "userinfo"
	EndSession Endpoint = "end_session"
)

// paths maps each endpoint to its path on the provider.
var paths = map[Endpoint]string{
	Discovery:  "/.well-known/openid-configuration",
	JWKS:       "/jwks",
	Authorize:  "/authorize",
	Token:      "/token",
	Userinfo:   "/userinfo",
	EndSession: "/end_session",
}

// Default client registration.
const (
	DefaultClientID     = "stauth-test-client"
	DefaultClientSecret = "hostile-op-client-secret-0123456789abcdef"
	DefaultSubject      = "alice-sub"
	DefaultEmail        = "alice@example.com"
	DefaultName         = "Alice Example"
)

// Signing says how the token endpoint signs the ID token.
type Signing int

const (
	// SignWithKey signs with Behaviour.SigningKey (by default the
	// provider's published RSA key): a genuine token.
	SignWithKey Signing = iota
	// SignNone makes an unsecured JWT, "alg": "none" and no signature
	// (written by hand: go-jose will not make one).
	SignNone
	// SignBadSignature signs with SigningKey, then flips bits of the
	// signature (by hand).
	SignBadSignature
	// SignHS256ClientSecret signs with HS256 keyed with the client secret,
	// the classic algorithm-confusion forgery.
	SignHS256ClientSecret
)

// Fault makes an endpoint misbehave. The zero Fault is a working endpoint.
type Fault struct {
	// Status answers this HTTP status with a small JSON error body,
	// {"error": Error, "error_description": ...}.
	Status int
	// Error, with Status, is the OAuth error code the answer carries
	// (RFC 6749 §5.2), such as "invalid_grant"; default "server_error".
	Error string
	// Hang never answers: the handler blocks until the request is
	// cancelled or the provider is closed (at the end of the test).
	Hang bool
	// Endless answers 200 with a JSON body that never ends (until the
	// client stops reading or the provider is closed).
	Endless bool
	// Huge answers 200 with a JSON object padded to at least this many
	// bytes.
	Huge int
}

// Behaviour is what the provider does; change it with Provider.Set.
// Function fields are called with a copy the hook may edit freely.
type Behaviour struct {
	// Faults makes endpoints fail, per endpoint.
	Faults map[Endpoint]Fault

	// Issuer is the issuer the discovery document and the tokens name.
	// Default: the provider's base URL.
	Issuer string
	// Metadata edits the discovery document before it is sent.
	Metadata func(doc map[string]any)
	// IssParameterSupported advertises
	// authorization_response_iss_parameter_supported (RFC 9207) and makes
	// the authorize endpoint send iss.
	IssParameterSupported bool
	// SendIss sends iss in the authorization response even when it is not
	// advertised.
	SendIss bool
	// NoUserinfo leaves userinfo_endpoint out of the discovery document.
	NoUserinfo bool
	// NoEndSession leaves end_session_endpoint out of the discovery document.
	NoEndSession bool
	// ClientSecretPost makes the token endpoint accept only
	// client_secret_post (and advertise so).
	ClientSecretPost bool

	// CallbackParams edits the parameters the authorize endpoint sends back
	// to redirect_uri (code, state, iss).
	CallbackParams func(q url.Values)

	// SkipClientAuth accepts a token request without checking the client's
	// credentials.
	SkipClientAuth bool
	// SkipPKCE accepts a token request without checking code_verifier.
	SkipPKCE bool
	// TokenResponse edits the token response (access_token, id_token, …).
	TokenResponse func(resp map[string]any)

	// Subject is the ID token's sub. Default DefaultSubject.
	Subject string
	// Claims edits the ID token's claims before signing.
	Claims func(claims map[string]any)
	// Signing says how the ID token is signed.
	Signing Signing
	// SigningKey signs the ID token. Default: SharedRSAKey("rsa-1").
	SigningKey *Key
	// PublishedKeys is the JWKS. Default: SigningKey alone.
	PublishedKeys []*Key
	// OmitKID leaves kid out of the ID token's header.
	OmitKID bool
	// Header adds fields to the ID token's protected header.
	Header map[string]any
	// Critical names header fields in crit (RFC 7515 §4.1.11).
	Critical []string

	// Userinfo edits the userinfo response before it is sent.
	Userinfo func(claims map[string]any)
}

// Request is one request the provider received.
type Request struct {
	Endpoint Endpoint
	Method   string
	// Query is the URL query; Form the urlencoded body of a POST.
	Query url.Values
	Form  url.Values
	// AuthScheme is the scheme of the Authorization header ("Basic",
	// "Bearer"), empty when there is none.
	AuthScheme string
	// BasicUser is the client_id sent with client_secret_basic.
	BasicUser string
	// Outcome is what the provider answered: "ok" or the OAuth error code
	// and reason.
	Outcome string
}

// Key is a signing key the provider may publish and sign with.
type Key struct {
	KID     string
	Alg     jose.SignatureAlgorithm
	Private crypto.Signer
}

// SignJWT signs claims (marshalled to JSON) as a compact JWS with the key,
// its kid in the header, the type typ and any extra header fields: a token
// as the provider would issue it, for tests that send one themselves.
func (k *Key) SignJWT(typ string, claims any, header map[string]any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	h := map[string]any{"typ": typ}
	for name, v := range header {
		h[name] = v
	}
	return sign(jose.SigningKey{Algorithm: k.Alg, Key: k.Private}, k.KID, &Behaviour{Header: h}, payload)
}

var (
	keysMu sync.Mutex
	keys   = map[string]*Key{}
)

// SharedRSAKey returns the 2048-bit RS256 key named kid, made once per test
// process (RSA keys are slow to make under the race detector).
func SharedRSAKey(kid string) *Key {
	return sharedKey(kid, jose.RS256, func() crypto.Signer {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		return k
	})
}

// SharedECKey returns the P-256 ES256 key named kid, made once per process.
func SharedECKey(kid string) *Key {
	return sharedKey(kid, jose.ES256, func() crypto.Signer {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		return k
	})
}

func sharedKey(kid string, alg jose.SignatureAlgorithm, make func() crypto.Signer) *Key {
	keysMu.Lock()
	defer keysMu.Unlock()
	name := string(alg) + "/" + kid
	if k, ok := keys[name]; ok {
		return k
	}
	k := &Key{KID: kid, Alg: alg, Private: make()}
	keys[name] = k
	return k
}

// Config sets up a provider.
type Config struct {
	// Addr is the address to listen on, such as 127.0.0.1:PORT; default a
	// free port on 127.0.0.1.
	Addr         string
	ClientID     string
	ClientSecret string
	// RedirectURIs, when set, are the only redirect_uri values the
	// authorize endpoint accepts (exact match).
	RedirectURIs []string
	// Behaviour is the initial behaviour.
	Behaviour Behaviour
}

// Provider is a running hostile OpenID provider.
type Provider struct {
	// URL is the base URL, http://127.0.0.1:PORT; the default issuer.
	URL string
	// MetadataURL is URL + /.well-known/openid-configuration.
	MetadataURL  string
	ClientID     string
	ClientSecret string

	redirectURIs []string
	srv          *httptest.Server
	closed       chan struct{}
	closeOnce    sync.Once

	mu        sync.Mutex
	behaviour Behaviour
	log       []*Request
	grants    map[string]*grant
	tokens    map[string]string // access token -> sub
}

// grant is one authorization code and what it is bound to.
type grant struct {
	clientID    string
	redirectURI string
	nonce       string
	challenge   string
	method      string
	used        bool
}

// MetadataURLFor is the metadata URL a provider listening on addr will have,
// for a test that configures it before the provider runs.
func MetadataURLFor(addr string) string {
	return "http://" + addr + paths[Discovery]
}

// New starts a provider and closes it when the test ends.
func New(t testing.TB, cfg Config) *Provider {
	t.Helper()
	p, err := Start(cfg)
	if err != nil {
		t.Fatalf("hostileop: %v", err)
	}
	t.Cleanup(p.Close)
	return p
}

// Start starts a provider; the caller closes it.
func Start(cfg Config) (*Provider, error) {
	addr := cfg.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	p := &Provider{
		ClientID:     cfg.ClientID,
		ClientSecret: cfg.ClientSecret,
		redirectURIs: cfg.RedirectURIs,
		closed:       make(chan struct{}),
		behaviour:    cfg.Behaviour,
		grants:       map[string]*grant{},
		tokens:       map[string]string{},
	}
	if p.ClientID == "" {
		p.ClientID = DefaultClientID
	}
	if p.ClientSecret == "" {
		p.ClientSecret = DefaultClientSecret
	}
	mux := http.NewServeMux()
	handlers := map[Endpoint]func(http.ResponseWriter, *http.Request, *Behaviour, *Request){
		Discovery:  p.serveDiscovery,
		JWKS:       p.serveJWKS,
		Authorize:  p.serveAuthorize,
		Token:      p.serveToken,
		Userinfo:   p.serveUserinfo,
		EndSession: p.serveEndSession,
	}
	for ep, h := range handlers {
		mux.HandleFunc(paths[ep], p.wrap(ep, h))
	}
	p.srv = httptest.NewUnstartedServer(mux)
	p.srv.Listener = l
	p.srv.Start()
	p.URL = p.srv.URL
	p.MetadataURL = p.URL + paths[Discovery]
	return p, nil
}

// Close releases hanging handlers and stops the provider.
func (p *Provider) Close() {
	p.closeOnce.Do(func() {
		close(p.closed)
		p.srv.CloseClientConnections()
		p.srv.Close()
	})
}

// Set changes the behaviour; it applies to the requests that start after.
func (p *Provider) Set(edit func(b *Behaviour)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	edit(&p.behaviour)
}

// Requests returns the log, or the part of it for the given endpoints.
func (p *Provider) Requests(endpoints ...Endpoint) []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Request
	for _, r := range p.log {
		if len(endpoints) == 0 || containsEndpoint(endpoints, r.Endpoint) {
			out = append(out, *r)
		}
	}
	return out
}

// Count is how many requests reached the endpoint.
func (p *Provider) Count(ep Endpoint) int { return len(p.Requests(ep)) }

func containsEndpoint(list []Endpoint, ep Endpoint) bool {
	for _, e := range list {
		if e == ep {
			return true
		}
	}
	return false
}

// Issuer is the issuer the provider currently names.
func (p *Provider) Issuer() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.issuer(&p.behaviour)
}

func (p *Provider) issuer(b *Behaviour) string {
	if b.Issuer != "" {
		return b.Issuer
	}
	return p.URL
}

// signingKey is the key that signs, and the keys the JWKS publishes.
func (p *Provider) signingKey(b *Behaviour) *Key {
	if b.SigningKey != nil {
		return b.SigningKey
	}
	return SharedRSAKey("rsa-1")
}

func (p *Provider) publishedKeys(b *Behaviour) []*Key {
	if b.PublishedKeys != nil {
		return b.PublishedKeys
	}
	return []*Key{p.signingKey(b)}
}

// snapshot copies b for one request: the maps and slices too, so a Set
// that edits them in place while the request runs does not race with it.
// The keys and the hooks are shared (a Key is never changed; a hook gets
// copies of what it edits).
func (b Behaviour) snapshot() Behaviour {
	b.Faults = maps.Clone(b.Faults)
	b.PublishedKeys = slices.Clone(b.PublishedKeys)
	b.Header = maps.Clone(b.Header)
	b.Critical = slices.Clone(b.Critical)
	return b
}

// wrap logs the request, applies the endpoint's fault and calls h with a
// snapshot of the behaviour.
func (p *Provider) wrap(ep Endpoint, h func(http.ResponseWriter, *http.Request, *Behaviour, *Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rec := &Request{Endpoint: ep, Method: r.Method, Query: r.URL.Query()}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
			if err := r.ParseForm(); err == nil {
				rec.Form = r.PostForm
			}
		}
		if scheme, _, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok {
			rec.AuthScheme = scheme
		}
		if user, _, ok := r.BasicAuth(); ok {
			rec.BasicUser, _ = url.QueryUnescape(user)
		}
		p.mu.Lock()
		b := p.behaviour.snapshot()
		p.log = append(p.log, rec)
		p.mu.Unlock()
		if f := b.Faults[ep]; f != (Fault{}) {
			p.outcome(rec, "fault")
			p.fault(w, r, f)
			return
		}
		h(w, r, &b, rec)
	}
}

// outcome records what the provider answers; call it before answering, so
// a test that got the relying party's response sees it.
func (p *Provider) outcome(rec *Request, outcome string) {
	p.mu.Lock()
	rec.Outcome = outcome
	p.mu.Unlock()
}

// fault answers the request as f says.
func (p *Provider) fault(w http.ResponseWriter, r *http.Request, f Fault) {
	switch {
	case f.Hang:
		select {
		case <-r.Context().Done():
		case <-p.closed:
		}
		return
	case f.Endless:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		chunk := []byte(`{"padding":"` + strings.Repeat("x", 32<<10))
		for {
			if _, err := w.Write(chunk); err != nil {
				return
			}
			select {
			case <-r.Context().Done():
				return
			case <-p.closed:
				return
			default:
			}
			chunk = chunk[len(chunk)-(32<<10):]
		}
	case f.Huge > 0:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = fmt.Fprintf(w, `{"padding":"%s"}`, strings.Repeat("x", f.Huge))
		return
	case f.Status != 0:
		code := f.Error
		if code == "" {
			code = "server_error"
		}
		writeJSON(w, f.Status, map[string]any{"error": code, "error_description": "fault injected by the test"})
		return
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (p *Provider) serveDiscovery(w http.ResponseWriter, r *http.Request, b *Behaviour, rec *Request) {
	algs := []string{}
	for _, k := range p.publishedKeys(b) {
		if !containsString(algs, string(k.Alg)) {
			algs = append(algs, string(k.Alg))
		}
	}
	if len(algs) == 0 {
		algs = []string{string(jose.RS256)}
	}
	auth := []string{"client_secret_basic"}
	if b.ClientSecretPost {
		auth = []string{"client_secret_post"}
	}
	doc := map[string]any{
		"issuer":                                p.issuer(b),
		"authorization_endpoint":                p.URL + paths[Authorize],
		"token_endpoint":                        p.URL + paths[Token],
		"jwks_uri":                              p.URL + paths[JWKS],
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": algs,
		"token_endpoint_auth_methods_supported": auth,
		"code_challenge_methods_supported":      []string{"S256"},
		"scopes_supported":                      []string{"openid", "profile", "email"},
	}
	if !b.NoUserinfo {
		doc["userinfo_endpoint"] = p.URL + paths[Userinfo]
	}
	if !b.NoEndSession {
		doc["end_session_endpoint"] = p.URL + paths[EndSession]
	}
	if b.IssParameterSupported {
		doc["authorization_response_iss_parameter_supported"] = true
	}
	if b.Metadata != nil {
		b.Metadata(doc)
	}
	p.outcome(rec, "ok")
	writeJSON(w, http.StatusOK, doc)
}

func (p *Provider) serveJWKS(w http.ResponseWriter, r *http.Request, b *Behaviour, rec *Request) {
	set := jose.JSONWebKeySet{}
	for _, k := range p.publishedKeys(b) {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.Private.Public(), KeyID: k.KID, Algorithm: string(k.Alg), Use: "sig"})
	}
	p.outcome(rec, "ok")
	writeJSON(w, http.StatusOK, set)
}

// serveAuthorize hands out a code at once (there is no login form) and
// redirects back to redirect_uri, as a provider does after the user logged in.
func (p *Provider) serveAuthorize(w http.ResponseWriter, r *http.Request, b *Behaviour, rec *Request) {
	q := r.URL.Query()
	redirectURI := q.Get("redirect_uri")
	if q.Get("client_id") != p.ClientID {
		p.outcome(rec, "invalid client_id")
		http.Error(w, "unknown client_id", http.StatusBadRequest)
		return
	}
	if redirectURI == "" || (len(p.redirectURIs) > 0 && !containsString(p.redirectURIs, redirectURI)) {
		p.outcome(rec, "invalid redirect_uri")
		http.Error(w, "redirect_uri is not registered", http.StatusBadRequest)
		return
	}
	back := url.Values{}
	if q.Get("response_type") != "code" {
		back.Set("error", "unsupported_response_type")
		p.outcome(rec, "unsupported_response_type")
	} else {
		code := randomToken()
		p.mu.Lock()
		p.grants[code] = &grant{
			clientID:    p.ClientID,
			redirectURI: redirectURI,
			nonce:       q.Get("nonce"),
			challenge:   q.Get("code_challenge"),
			method:      q.Get("code_challenge_method"),
		}
		p.mu.Unlock()
		back.Set("code", code)
		p.outcome(rec, "ok")
	}
	if state, ok := q["state"]; ok {
		back["state"] = state
	}
	if b.IssParameterSupported || b.SendIss {
		back.Set("iss", p.issuer(b))
	}
	if b.CallbackParams != nil {
		b.CallbackParams(back)
	}
	sep := "?"
	if strings.Contains(redirectURI, "?") {
		sep = "&"
	}
	w.Header().Set("Location", redirectURI+sep+back.Encode())
	w.WriteHeader(http.StatusFound)
}

// tokenError answers an OAuth error from the token endpoint (RFC 6749 §5.2).
func (p *Provider) tokenError(w http.ResponseWriter, rec *Request, status int, code, reason string) {
	p.outcome(rec, code+": "+reason)
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="hostileop"`)
	}
	writeJSON(w, status, map[string]string{"error": code, "error_description": reason})
}

func (p *Provider) serveToken(w http.ResponseWriter, r *http.Request, b *Behaviour, rec *Request) {
	if r.Method != http.MethodPost {
		p.tokenError(w, rec, http.StatusMethodNotAllowed, "invalid_request", "the token endpoint takes POST")
		return
	}
	form := r.PostForm
	for key, values := range form {
		if len(values) > 1 {
			p.tokenError(w, rec, http.StatusBadRequest, "invalid_request", key+" is repeated")
			return
		}
	}
	if !b.SkipClientAuth {
		if reason := p.checkClient(r, b); reason != "" {
			p.tokenError(w, rec, http.StatusUnauthorized, "invalid_client", reason)
			return
		}
	}
	if form.Get("grant_type") != "authorization_code" {
		p.tokenError(w, rec, http.StatusBadRequest, "unsupported_grant_type", "grant_type "+form.Get("grant_type"))
		return
	}
	code := form.Get("code")
	p.mu.Lock()
	g := p.grants[code]
	reused := g != nil && g.used
	if g != nil {
		g.used = true
	}
	p.mu.Unlock()
	switch {
	case g == nil:
		p.tokenError(w, rec, http.StatusBadRequest, "invalid_grant", "unknown code")
		return
	case reused:
		p.tokenError(w, rec, http.StatusBadRequest, "invalid_grant", "the code was already used")
		return
	case form.Get("redirect_uri") != g.redirectURI:
		p.tokenError(w, rec, http.StatusBadRequest, "invalid_grant", "redirect_uri differs from the authorization request's")
		return
	case form.Has("client_id") && form.Get("client_id") != g.clientID:
		p.tokenError(w, rec, http.StatusBadRequest, "invalid_grant", "the code was issued to another client")
		return
	}
	if !b.SkipPKCE {
		if reason := checkPKCE(g, form.Get("code_verifier")); reason != "" {
			p.tokenError(w, rec, http.StatusBadRequest, "invalid_grant", reason)
			return
		}
	}
	access := randomToken()
	sub := b.Subject
	if sub == "" {
		sub = DefaultSubject
	}
	p.mu.Lock()
	p.tokens[access] = sub
	p.mu.Unlock()
	idToken, err := p.idToken(b, g, sub, access)
	if err != nil {
		p.tokenError(w, rec, http.StatusInternalServerError, "server_error", err.Error())
		return
	}
	resp := map[string]any{
		"access_token": access,
		"token_type":   "Bearer",
		"expires_in":   300,
		"id_token":     idToken,
		"scope":        "openid profile email",
	}
	if b.TokenResponse != nil {
		b.TokenResponse(resp)
	}
	p.outcome(rec, "ok")
	writeJSON(w, http.StatusOK, resp)
}

// checkClient checks the client's credentials: client_secret_basic (both
// parts form-urlencoded, RFC 6749 §2.3.1), or client_secret_post when that
// is what the provider supports; never both at once (RFC 6749 §2.3).
func (p *Provider) checkClient(r *http.Request, b *Behaviour) string {
	user, pass, hasBasic := r.BasicAuth()
	hasPost := r.PostForm.Has("client_secret")
	switch {
	case hasBasic && hasPost:
		return "more than one client authentication method"
	case b.ClientSecretPost && !hasPost:
		return "client_secret_post required"
	case b.ClientSecretPost:
		if r.PostForm.Get("client_id") != p.ClientID || !equal(r.PostForm.Get("client_secret"), p.ClientSecret) {
			return "bad client credentials"
		}
		return ""
	case !hasBasic:
		return "client_secret_basic required"
	}
	id, err1 := url.QueryUnescape(user)
	secret, err2 := url.QueryUnescape(pass)
	if err1 != nil || err2 != nil || id != p.ClientID || !equal(secret, p.ClientSecret) {
		return "bad client credentials"
	}
	return ""
}

// checkPKCE checks code_verifier against the code's challenge (RFC 7636 §4.6).
func checkPKCE(g *grant, verifier string) string {
	switch {
	case g.challenge == "" && verifier == "":
		return ""
	case g.challenge == "":
		return "code_verifier sent for a code without code_challenge"
	case verifier == "":
		return "code_verifier is missing"
	case g.method != "S256":
		return "code_challenge_method " + g.method + " is not accepted"
	case len(verifier) < 43 || len(verifier) > 128:
		return "code_verifier must be 43 to 128 characters"
	}
	sum := sha256.Sum256([]byte(verifier))
	if !equal(base64.RawURLEncoding.EncodeToString(sum[:]), g.challenge) {
		return "code_verifier does not match code_challenge"
	}
	return ""
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// idToken makes the ID token for a grant, as the behaviour says.
func (p *Provider) idToken(b *Behaviour, g *grant, sub, access string) (string, error) {
	now := time.Now()
	key := p.signingKey(b)
	claims := map[string]any{
		"iss":            p.issuer(b),
		"sub":            sub,
		"aud":            p.ClientID,
		"exp":            now.Add(5 * time.Minute).Unix(),
		"iat":            now.Unix(),
		"auth_time":      now.Unix(),
		"email":          DefaultEmail,
		"email_verified": true,
		"name":           DefaultName,
	}
	if g.nonce != "" {
		claims["nonce"] = g.nonce
	}
	if h := hashFor(key.Alg); h != nil && b.Signing == SignWithKey {
		h.Write([]byte(access))
		sum := h.Sum(nil)
		claims["at_hash"] = base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
	}
	if b.Claims != nil {
		b.Claims(claims)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	switch b.Signing {
	case SignNone:
		header := map[string]any{"alg": "none", "typ": "JWT"}
		if !b.OmitKID {
			header["kid"] = key.KID
		}
		h, _ := json.Marshal(header)
		return b64(h) + "." + b64(payload) + ".", nil
	case SignHS256ClientSecret:
		return sign(jose.SigningKey{Algorithm: jose.HS256, Key: []byte(p.ClientSecret)}, key.KID, b, payload)
	}
	signed, err := sign(jose.SigningKey{Algorithm: key.Alg, Key: key.Private}, key.KID, b, payload)
	if err != nil || b.Signing != SignBadSignature {
		return signed, err
	}
	parts := strings.Split(signed, ".")
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return "", err
	}
	sig[len(sig)/2] ^= 0x01
	sig[0] ^= 0x80
	return parts[0] + "." + parts[1] + "." + b64(sig), nil
}

func sign(sk jose.SigningKey, kid string, b *Behaviour, payload []byte) (string, error) {
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if !b.OmitKID {
		opts = opts.WithHeader("kid", kid)
	}
	for k, v := range b.Header {
		opts = opts.WithHeader(jose.HeaderKey(k), v)
	}
	if len(b.Critical) > 0 {
		opts = opts.WithCritical(b.Critical...)
	}
	signer, err := jose.NewSigner(sk, opts)
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// hashFor is the hash of at_hash for a signature algorithm (OpenID Connect
// Core 1.0 §3.1.3.6).
func hashFor(alg jose.SignatureAlgorithm) hash.Hash {
	switch alg {
	case jose.RS256, jose.ES256, jose.PS256:
		return sha256.New()
	case jose.RS384, jose.ES384, jose.PS384:
		return sha512.New384()
	case jose.RS512, jose.ES512, jose.PS512:
		return sha512.New()
	}
	return nil
}

func (p *Provider) serveUserinfo(w http.ResponseWriter, r *http.Request, b *Behaviour, rec *Request) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	p.mu.Lock()
	sub, known := p.tokens[token]
	p.mu.Unlock()
	if !ok || !known {
		p.outcome(rec, "invalid_token")
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token"})
		return
	}
	claims := map[string]any{
		"sub":            sub,
		"email":          DefaultEmail,
		"email_verified": true,
		"name":           DefaultName,
	}
	if b.Userinfo != nil {
		b.Userinfo(claims)
	}
	p.outcome(rec, "ok")
	writeJSON(w, http.StatusOK, claims)
}

func (p *Provider) serveEndSession(w http.ResponseWriter, r *http.Request, b *Behaviour, rec *Request) {
	p.outcome(rec, "ok")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("signed out at the provider\n"))
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func randomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return b64(b)
}
