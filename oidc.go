package stauth

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"go.uber.org/zap"
	"golang.org/x/oauth2"
)

// Limits on every request to a provider.
const (
	providerTimeout     = 10 * time.Second
	maxProviderResponse = 1 << 20
	// maxClockSkew is how far in the future an ID token's iat may be.
	maxClockSkew = 5 * time.Minute
)

// asymmetricAlgs are the ID token signature algorithms stauth accepts.
var asymmetricAlgs = []string{
	oidc.RS256, oidc.RS384, oidc.RS512, oidc.ES256, oidc.ES384, oidc.ES512,
	oidc.PS256, oidc.PS384, oidc.PS512, oidc.EdDSA,
}

// provider is one OpenID Connect provider: its settings from secrets.toml and
// what discovery learnt of it. Discovery starts at Provision and is tried
// again at each login until it succeeds; its result is then kept.
type provider struct {
	providerConfig
	// ctx carries the HTTP client for go-oidc and x/oauth2; it lives as long
	// as the module.
	ctx context.Context
	// sharedRedirect tells whether another provider has the same
	// redirect_uri, which only the iss parameter then tells apart.
	sharedRedirect bool
	logger         *zap.Logger

	mu       sync.Mutex
	found    *discovered
	inflight *discovery
}

// discovery is one fetch of the discovery document, shared by every login
// that waits for it.
type discovery struct {
	done   chan struct{}
	result *discovered
	err    error
}

// discovered is what a provider's metadata tells.
type discovered struct {
	issuer           string
	jwksURI          string
	oauth            oauth2.Config
	verifier         *oidc.IDTokenVerifier
	oidc             *oidc.Provider
	hasUserinfo      bool
	endSession       string
	issParamRequired bool
}

// providerMetadata is the part of the discovery document stauth reads.
type providerMetadata struct {
	Issuer                 string   `json:"issuer"`
	AuthorizationEndpoint  string   `json:"authorization_endpoint"`
	TokenEndpoint          string   `json:"token_endpoint"`
	UserinfoEndpoint       string   `json:"userinfo_endpoint"`
	JWKSURI                string   `json:"jwks_uri"`
	EndSessionEndpoint     string   `json:"end_session_endpoint"`
	SigningAlgs            []string `json:"id_token_signing_alg_values_supported"`
	TokenAuthMethods       []string `json:"token_endpoint_auth_methods_supported"`
	IssParameterSupported  bool     `json:"authorization_response_iss_parameter_supported"`
	ResponseTypesSupported []string `json:"response_types_supported"`
}

// newProviderClient returns the HTTP client for every request to providers:
// a timeout, a response size cap, and provider failures as errors.
func newProviderClient() *http.Client {
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.ResponseHeaderTimeout = providerTimeout
	return &http.Client{Timeout: providerTimeout, Transport: guardedTransport{base}}
}

// guardedTransport turns a provider's 5xx answer into an error and caps the
// size of every response body.
type guardedTransport struct{ base http.RoundTripper }

func (t guardedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 500 {
		resp.Body.Close()
		return nil, &providerError{reason: "answered " + resp.Status}
	}
	resp.Body = &cappedBody{body: resp.Body, left: maxProviderResponse}
	return resp, nil
}

// cappedBody fails a read past its size limit.
type cappedBody struct {
	body io.ReadCloser
	left int64
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.body.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return n, &providerError{reason: fmt.Sprintf("sent a response larger than %d bytes", maxProviderResponse)}
	}
	return n, err
}

func (b *cappedBody) Close() error { return b.body.Close() }

// providerError is a provider that failed to answer properly.
type providerError struct{ reason string }

func (e *providerError) Error() string { return "the provider " + e.reason }

// newProvider prepares a provider; nothing is fetched yet.
func newProvider(ctx context.Context, pc providerConfig, sharedRedirect bool, logger *zap.Logger) *provider {
	return &provider{providerConfig: pc, ctx: ctx, sharedRedirect: sharedRedirect, logger: logger}
}

// discover returns the provider's metadata. Until a discovery succeeds,
// every call starts one (or joins the one under way), so a provider that was
// down is used as soon as it is back.
func (p *provider) discover(ctx context.Context) (*discovered, error) {
	p.mu.Lock()
	if p.found != nil {
		p.mu.Unlock()
		return p.found, nil
	}
	call := p.inflight
	if call == nil {
		call = &discovery{done: make(chan struct{})}
		p.inflight = call
		go p.runDiscovery(call)
	}
	p.mu.Unlock()
	select {
	case <-call.done:
		return call.result, call.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// runDiscovery fetches the metadata for everyone waiting on call.
func (p *provider) runDiscovery(call *discovery) {
	call.result, call.err = p.fetchMetadata()
	if call.err != nil {
		call.err = fmt.Errorf("discovery of provider %q from %s: %w", p.name, p.metadataURL, call.err)
	}
	if call.err == nil && p.sharedRedirect && !call.result.issParamRequired {
		p.logger.Warn("this provider does not send the iss parameter and shares redirect_uri with other providers, so a malicious one could receive its authorization codes (a mix-up attack, RFC 9700 §4.4); give each [auth.NAME] its own redirect_uri",
			zap.String("provider", p.name))
	}
	p.mu.Lock()
	if call.err == nil {
		p.found = call.result
	}
	p.inflight = nil
	p.mu.Unlock()
	close(call.done)
}

// fetchMetadata reads and checks the discovery document.
func (p *provider) fetchMetadata() (*discovered, error) {
	ctx, cancel := context.WithTimeout(p.ctx, providerTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.metadataURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := p.client().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, &providerError{reason: "answered " + resp.Status}
	}
	var meta providerMetadata
	if err := json.NewDecoder(resp.Body).Decode(&meta); err != nil {
		var pe *providerError
		if errors.As(err, &pe) {
			return nil, err
		}
		return nil, &metadataError{fmt.Sprintf("the discovery document is not valid JSON: %v", err)}
	}
	return p.checkMetadata(&meta)
}

// client is the HTTP client for every request to the provider (see
// newProviderClient).
func (p *provider) client() *http.Client {
	return p.ctx.Value(oauth2.HTTPClient).(*http.Client)
}

// withClient makes x/oauth2 and go-oidc use the provider's HTTP client for
// requests made with ctx.
func (p *provider) withClient(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, p.client())
}

// metadataError is a discovery document stauth cannot use: the provider
// answered, but something in secrets.toml or at the provider must change.
type metadataError struct{ reason string }

func (e *metadataError) Error() string { return e.reason }

// checkMetadata validates the discovery document (OpenID Connect Discovery
// 1.0 §4.3) and builds the OAuth and verification settings from it.
func (p *provider) checkMetadata(meta *providerMetadata) (*discovered, error) {
	want := strings.TrimSuffix(meta.Issuer, "/") + "/.well-known/openid-configuration"
	if meta.Issuer == "" || want != p.metadataURL {
		return nil, &metadataError{fmt.Sprintf("the document's issuer %q does not match server_metadata_url (the issuer + /.well-known/openid-configuration must equal it; for Microsoft Entra use your tenant ID, not common or organizations)", meta.Issuer)}
	}
	if err := checkEndpoints(meta, strings.HasPrefix(p.metadataURL, "https:")); err != nil {
		return nil, err
	}
	if len(meta.ResponseTypesSupported) > 0 && !slices.Contains(meta.ResponseTypesSupported, "code") {
		return nil, &metadataError{"the provider does not support the authorization code flow (response_types_supported lacks code)"}
	}
	algs := signingAlgs(meta.SigningAlgs)
	if len(algs) == 0 {
		return nil, &metadataError{fmt.Sprintf("the provider signs ID tokens only with %v; stauth accepts only asymmetric signatures such as RS256 or ES256", meta.SigningAlgs)}
	}
	style, err := authStyle(p.tokenAuthMethod, meta.TokenAuthMethods)
	if err != nil {
		return nil, err
	}
	op := (&oidc.ProviderConfig{
		IssuerURL:   meta.Issuer,
		AuthURL:     meta.AuthorizationEndpoint,
		TokenURL:    meta.TokenEndpoint,
		UserInfoURL: meta.UserinfoEndpoint,
		JWKSURL:     meta.JWKSURI,
		Algorithms:  algs,
	}).NewProvider(p.ctx)
	return &discovered{
		issuer:  meta.Issuer,
		jwksURI: meta.JWKSURI,
		oauth: oauth2.Config{
			ClientID:     p.clientID,
			ClientSecret: p.clientSecret,
			Endpoint:     oauth2.Endpoint{AuthURL: meta.AuthorizationEndpoint, TokenURL: meta.TokenEndpoint, AuthStyle: style},
			Scopes:       strings.Fields(p.scope),
		},
		verifier:         op.Verifier(&oidc.Config{ClientID: p.clientID, SupportedSigningAlgs: algs}),
		oidc:             op,
		hasUserinfo:      meta.UserinfoEndpoint != "",
		endSession:       meta.EndSessionEndpoint,
		issParamRequired: meta.IssParameterSupported,
	}, nil
}

// checkEndpoints checks that the document's endpoints are absolute URLs,
// and https ones when the document itself came over https: a key set or a
// token endpoint on plain http would undo what https protected.
func checkEndpoints(meta *providerMetadata, https bool) error {
	endpoints := map[string]string{"authorization_endpoint": meta.AuthorizationEndpoint, "token_endpoint": meta.TokenEndpoint, "jwks_uri": meta.JWKSURI}
	for name, endpoint := range map[string]string{"userinfo_endpoint": meta.UserinfoEndpoint, "end_session_endpoint": meta.EndSessionEndpoint} {
		if endpoint != "" {
			endpoints[name] = endpoint
		}
	}
	for name, endpoint := range endpoints {
		u, err := url.Parse(endpoint)
		if err == nil {
			err = checkWebURL(u)
		}
		if err == nil && https && u.Scheme != "https" {
			err = errors.New("must use https, as the discovery document does")
		}
		if err != nil {
			return &metadataError{fmt.Sprintf("the document's %s %s %v", name, shownURL(endpoint), err)}
		}
	}
	return nil
}

// signingAlgs keeps the advertised asymmetric algorithms; a provider that
// advertises none signs with RS256 (OpenID Connect Discovery 1.0 §3).
func signingAlgs(advertised []string) []string {
	if len(advertised) == 0 {
		return []string{oidc.RS256}
	}
	var algs []string
	for _, alg := range advertised {
		if slices.Contains(asymmetricAlgs, alg) {
			algs = append(algs, alg)
		}
	}
	return algs
}

// authStyle picks how the client authenticates at the token endpoint: the
// configured token_endpoint_auth_method, else client_secret_basic unless the
// provider supports only client_secret_post.
func authStyle(configured string, supported []string) (oauth2.AuthStyle, error) {
	switch {
	case configured == "client_secret_basic":
		return oauth2.AuthStyleInHeader, nil
	case configured == "client_secret_post":
		return oauth2.AuthStyleInParams, nil
	case len(supported) == 0 || slices.Contains(supported, "client_secret_basic"):
		return oauth2.AuthStyleInHeader, nil
	case slices.Contains(supported, "client_secret_post"):
		return oauth2.AuthStyleInParams, nil
	}
	return 0, &metadataError{fmt.Sprintf("the token endpoint supports only %v; stauth authenticates with client_secret_basic or client_secret_post", supported)}
}

// authCodeURL returns the authorization request URL for one login.
func (p *provider) authCodeURL(d *discovered, tx *loginTransaction) string {
	cfg := d.oauth
	cfg.RedirectURL = tx.RedirectURI
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(tx.Verifier), oidc.Nonce(tx.Nonce)}
	for _, kv := range p.authParams {
		opts = append(opts, oauth2.SetAuthURLParam(kv[0], kv[1]))
	}
	return cfg.AuthCodeURL(tx.State, opts...)
}

// identity is a verified login: its claims and tokens.
type identity struct {
	claims     map[string]any
	token      *oauth2.Token
	rawIDToken string
}

// refusal is a login the callback refuses: a message for the person and a
// reason for the log.
type refusal struct {
	status int
	title  string
	reason string
}

func (r *refusal) Error() string { return r.reason }

func refuse(format string, args ...any) *refusal {
	return &refusal{status: http.StatusBadRequest, title: "The sign-in could not be completed", reason: fmt.Sprintf(format, args...)}
}

// unreachable wraps a failed request to the provider with the HTTP status to
// answer: 504 when it timed out, 503 when it could not be reached, 502 when it
// answered wrongly.
func unreachable(err error, doing string) *refusal {
	status := http.StatusBadGateway
	var netErr net.Error
	var opErr *net.OpError
	switch {
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()):
		status = http.StatusGatewayTimeout
	case errors.As(err, &opErr):
		status = http.StatusServiceUnavailable
	}
	return &refusal{status: status, title: notAnswering, reason: doing + ": " + err.Error()}
}

// notAnswering is the title of the page for a provider that failed.
const notAnswering = "The sign-in service is not answering"

// badGateway is the refusal for a provider that answered wrongly.
func badGateway(reason string) *refusal {
	return &refusal{status: http.StatusBadGateway, title: notAnswering, reason: reason}
}

// isUnreachable tells whether err comes from the network or a provider fault
// rather than from what the provider said.
func isUnreachable(err error) bool {
	var urlErr *url.Error
	var provErr *providerError
	return errors.As(err, &urlErr) || errors.As(err, &provErr) || errors.Is(err, context.DeadlineExceeded)
}

// exchange redeems the authorization code and verifies what comes back.
func (p *provider) exchange(ctx context.Context, d *discovered, tx *loginTransaction, code string) (*identity, error) {
	cfg := d.oauth
	cfg.RedirectURL = tx.RedirectURI
	ctx = p.withClient(ctx)
	token, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(tx.Verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			return nil, refuse("the token endpoint refused the code: %s", re.ErrorCode)
		}
		if isUnreachable(err) {
			return nil, unreachable(err, "code exchange")
		}
		// Not a token response (x/oauth2 reads at most 1 MiB of it, so an
		// oversized one fails to parse): the provider answered wrongly.
		return nil, badGateway("code exchange: " + err.Error())
	}
	id, err := p.verifyIDToken(ctx, d, token, tx.Nonce)
	if err != nil {
		return nil, err
	}
	if d.hasUserinfo {
		if err := p.mergeUserinfo(ctx, d, id); err != nil {
			return nil, err
		}
	}
	return id, nil
}

// verifyIDToken checks the ID token of a token response (OpenID Connect Core
// 1.0 §3.1.3.7): signature, iss, aud, exp by go-oidc; nonce, sub, iat, azp
// and at_hash here.
func (p *provider) verifyIDToken(ctx context.Context, d *discovered, token *oauth2.Token, nonce string) (*identity, error) {
	raw, _ := token.Extra("id_token").(string)
	if raw == "" {
		return nil, refuse("the token response holds no id_token")
	}
	idt, err := d.verifier.Verify(ctx, raw)
	if err != nil {
		if isUnreachable(err) {
			return nil, unreachable(err, "fetching the provider's signing keys")
		}
		if keysErr := p.checkKeys(ctx, d.jwksURI); keysErr != nil {
			return nil, keysErr
		}
		return nil, refuse("ID token rejected: %v", err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
		return nil, refuse("ID token rejected: its nonce does not match the login's")
	}
	if err := p.checkIDTokenClaims(idt); err != nil {
		return nil, err
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(token.AccessToken); err != nil {
			return nil, refuse("ID token rejected: at_hash does not match the access token")
		}
	}
	claims := map[string]any{}
	if err := idt.Claims(&claims); err != nil {
		return nil, refuse("ID token rejected: %v", err)
	}
	if azp, ok := claims["azp"]; (ok && azp != p.clientID) || (!ok && len(idt.Audience) > 1) {
		return nil, refuse("ID token rejected: azp must be the client_id when present or when aud names other clients")
	}
	return &identity{claims: claims, token: token, rawIDToken: raw}, nil
}

// checkKeys tells whether a failed ID token check is the provider's fault:
// its JWKS cannot be fetched, is not a key set, or holds no keys. go-oidc
// keeps only the text of a key fetch error, so the keys are fetched again
// to tell (only after a failed check).
func (p *provider) checkKeys(ctx context.Context, jwksURI string) *refusal {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, jwksURI, nil)
	if err != nil {
		return unreachable(err, "fetching the provider's signing keys")
	}
	resp, err := p.client().Do(req)
	if err != nil {
		return unreachable(err, "fetching the provider's signing keys")
	}
	defer resp.Body.Close()
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil || resp.StatusCode != http.StatusOK || len(set.Keys) == 0 {
		return badGateway("the provider's jwks_uri serves no signing keys")
	}
	return nil
}

// checkIDTokenClaims checks the claims go-oidc leaves to its caller.
func (p *provider) checkIDTokenClaims(idt *oidc.IDToken) error {
	switch {
	case idt.Subject == "":
		return refuse("ID token rejected: it has no sub")
	case idt.IssuedAt.IsZero():
		return refuse("ID token rejected: it has no iat")
	case time.Until(idt.IssuedAt) > maxClockSkew:
		return refuse("ID token rejected: its iat is in the future")
	}
	return nil
}

// protectedClaims are never taken from userinfo.
var protectedClaims = []string{"iss", "sub", "aud", "exp", "iat", "nbf", "azp", "nonce", "auth_time", "acr", "amr", "sid"}

// mergeUserinfo adds the userinfo claims to the identity; the userinfo sub
// must be the ID token's (OpenID Connect Core 1.0 §5.3.2).
func (p *provider) mergeUserinfo(ctx context.Context, d *discovered, id *identity) error {
	info, err := d.oidc.UserInfo(ctx, oauth2.StaticTokenSource(id.token))
	if err != nil {
		if isUnreachable(err) {
			return unreachable(err, "userinfo request")
		}
		return refuse("userinfo request failed: %v", err)
	}
	if info.Subject != id.claims["sub"] {
		return refuse("userinfo rejected: its sub is not the ID token's")
	}
	extra := map[string]any{}
	if err := info.Claims(&extra); err != nil {
		return refuse("userinfo rejected: %v", err)
	}
	for k, v := range extra {
		if !slices.Contains(protectedClaims, k) {
			id.claims[k] = v
		}
	}
	return nil
}

// refresh redeems a refresh token for a new access token (OpenID Connect Core
// 1.0 §12). A new ID token, when sent, must name the same subject.
func (p *provider) refresh(ctx context.Context, d *discovered, sess *session) (*oauth2.Token, error) {
	ctx = p.withClient(ctx)
	token, err := d.oauth.TokenSource(ctx, &oauth2.Token{RefreshToken: sess.refreshToken, Expiry: time.Unix(1, 0)}).Token()
	if err != nil {
		return nil, err
	}
	if raw, _ := token.Extra("id_token").(string); raw != "" {
		idt, err := d.verifier.Verify(ctx, raw)
		if err != nil {
			return nil, err
		}
		if idt.Subject != sess.sub {
			return nil, errors.New("the refreshed ID token names another subject")
		}
	}
	return token, nil
}

// endSessionURL returns where logout sends the browser at the provider
// (OpenID Connect RP-Initiated Logout 1.0 §2).
func (p *provider) endSessionURL(d *discovered, idToken, postLogout string) string {
	u, _ := url.Parse(d.endSession) // checkEndpoints parsed it
	q := u.Query()
	if idToken != "" {
		q.Set("id_token_hint", idToken)
	}
	q.Set("client_id", p.clientID)
	q.Set("post_logout_redirect_uri", postLogout)
	u.RawQuery = q.Encode()
	return u.String()
}
