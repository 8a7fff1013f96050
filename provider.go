package stauth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
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
	// binding identifies this provider's configuration: sessions and logins
	// carry it and open only where it is the same (see providerBinding).
	binding string
	// sharedRedirect tells whether another provider has the same
	// redirect_uri, which only the iss parameter then tells apart.
	sharedRedirect bool
	logger         *zap.Logger

	// promptRefused is set once the provider refused stauth's default
	// prompt: it is no longer sent.
	promptRefused atomic.Bool

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
	// algs are the asymmetric algorithms the provider signs with.
	algs []string
	// promptValues are the prompts the provider lists as supported; nil
	// when it does not say.
	promptValues []string
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
	PromptValuesSupported  []string `json:"prompt_values_supported"`
	ResponseTypesSupported []string `json:"response_types_supported"`
}

// newProvider prepares a provider; nothing is fetched yet.
func newProvider(ctx context.Context, pc providerConfig, sharedRedirect bool, logger *zap.Logger) *provider {
	return &provider{providerConfig: pc, binding: providerBinding(pc), ctx: ctx, sharedRedirect: sharedRedirect, logger: logger}
}

// providerBinding identifies a provider by what makes it the same one: its
// server_metadata_url (which fixes its issuer, see checkMetadata) and
// client_id. A session made by provider "default" at one issuer never opens
// where "default" is another, even with the same cookie_secret.
func providerBinding(pc providerConfig) string {
	sum := sha256.Sum256([]byte(pc.metadataURL + "\x00" + pc.clientID))
	return base64.RawURLEncoding.EncodeToString(sum[:12])
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
	var meta providerMetadata
	if err := getJSON(p.ctx, p.client(), p.metadataURL, &meta); err != nil {
		var bad *notJSONError
		if errors.As(err, &bad) {
			return nil, &metadataError{fmt.Sprintf("the discovery document is not valid JSON: %v", bad.err)}
		}
		return nil, err
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
		promptValues:     meta.PromptValuesSupported,
		algs:             algs,
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

// setUpProviders prepares every provider and starts discovering them in the
// background, so the first login need not wait.
func (s *Stauth) setUpProviders(ctx caddy.Context) {
	base, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.client = newProviderClient()
	clientCtx := context.WithValue(base, oauth2.HTTPClient, s.client)
	s.providers = make(map[string]*provider, len(s.secrets.providers))
	for _, pc := range s.secrets.providers {
		p := newProvider(clientCtx, pc, sharesCallback(s.secrets.providers, pc), s.logger)
		s.providers[pc.name] = p
		s.providerOrder = append(s.providerOrder, p)
		if s.Passive {
			continue // it never talks to providers
		}
		go func() {
			s.recallPromptRefusal(ctx, p)
			if _, err := p.discover(ctx); err != nil && ctx.Err() == nil && !s.misconfigured(p, err) {
				s.logger.Warn("provider not reachable yet; stauth will try again at the next login", zap.Error(err))
			}
		}()
	}
}

// sharesCallback tells whether another provider has pc's callback path: the
// callback is told apart by its path alone, so redirect URIs that differ
// only in their query share it.
func sharesCallback(all []providerConfig, pc providerConfig) bool {
	path := parseRedirect(pc.redirectURI).Path
	return slices.ContainsFunc(all, func(other providerConfig) bool {
		return other.name != pc.name && parseRedirect(other.redirectURI).Path == path
	})
}
