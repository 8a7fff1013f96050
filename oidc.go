package stauth

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// authCodeURL returns the authorization request URL for one login.
func (p *provider) authCodeURL(d *discovered, tx *loginTransaction) string {
	cfg := d.oauth
	cfg.RedirectURL = tx.RedirectURI
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(tx.Verifier), oidc.Nonce(tx.Nonce)}
	for _, kv := range p.authParams {
		opts = append(opts, oauth2.SetAuthURLParam(kv[0], kv[1]))
	}
	if tx.DefaultPrompt {
		opts = append(opts, oauth2.SetAuthURLParam("prompt", p.defaultPrompt))
	}
	return cfg.AuthCodeURL(tx.State, opts...)
}

// sendsDefaultPrompt tells whether a login sends Streamlit's default prompt:
// not when client_kwargs sets one, when the provider's metadata lists the
// prompts it supports without it, or after the provider refused it.
func (p *provider) sendsDefaultPrompt(d *discovered) bool {
	if p.defaultPrompt == "" || p.promptRefused.Load() {
		return false
	}
	return d.promptValues == nil || slices.Contains(d.promptValues, p.defaultPrompt)
}

// identity is a verified login: its claims and tokens.
type identity struct {
	claims     map[string]any
	token      *oauth2.Token
	rawIDToken string
}

// loginError is why a login failed, as the protocol sees it; the handler
// chooses the status and the page.
type loginError struct {
	fault  fault
	reason string
}

func (e *loginError) Error() string { return e.reason }

// fault is whose fault a failed login is.
type fault int

const (
	// faultRefused: what the browser or the provider sent does not pass a
	// check; trying again may work.
	faultRefused fault = iota
	// faultBadAnswer: the provider answered, but not properly.
	faultBadAnswer
	// faultUnreachable: the provider could not be reached.
	faultUnreachable
	// faultTimeout: the provider did not answer in time.
	faultTimeout
)

// refuse is a login refused by a check.
func refuse(format string, args ...any) *loginError {
	return &loginError{fault: faultRefused, reason: fmt.Sprintf(format, args...)}
}

// unreachable wraps a failed request to the provider: a time-out, a
// connection that could not be made, or a wrong answer.
func unreachable(err error, doing string) *loginError {
	f := faultBadAnswer
	var netErr net.Error
	var opErr *net.OpError
	switch {
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()):
		f = faultTimeout
	case errors.As(err, &opErr):
		f = faultUnreachable
	}
	return &loginError{fault: f, reason: doing + ": " + loggable(err)}
}

// badAnswer is a provider that answered wrongly.
func badAnswer(reason string) *loginError {
	return &loginError{fault: faultBadAnswer, reason: reason}
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
		return nil, badAnswer("code exchange: " + loggable(err))
	}
	id, err := p.verifyIDToken(ctx, d, token, tx.Nonce)
	if err == nil {
		err = p.checkStrength(id.claims, time.Unix(tx.Created, 0), time.Now())
	}
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
		return nil, refuse("ID token rejected: %s", loggable(err))
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
		return nil, refuse("ID token rejected: %s", loggable(err))
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
func (p *provider) checkKeys(ctx context.Context, jwksURI string) *loginError {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	err := getJSON(ctx, p.client(), jwksURI, &set)
	switch {
	case err != nil && !errors.As(err, new(*notJSONError)) && !errors.As(err, new(*providerError)):
		return unreachable(err, "fetching the provider's signing keys")
	case err != nil || len(set.Keys) == 0:
		return badAnswer("the provider's jwks_uri serves no signing keys")
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

// strengthSkew is the clock difference allowed between Caddy and the
// provider when auth_time is checked.
const strengthSkew = time.Minute

// promptLoginWindow is how long before the login started its
// authentication may have happened with prompt = "login", allowing for
// clocks: the provider must have asked the user again.
const promptLoginWindow = 2 * time.Minute

// checkStrength checks that the login is as strong as client_kwargs asked
// (OpenID Connect Core 1.0 §3.1.2.1, §5.5.1.1): acr one of acr_values,
// auth_time within max_age, and after the login's start with prompt login.
// A user who strips these from the authorization request is refused.
func (p *provider) checkStrength(claims map[string]any, started, now time.Time) error {
	if len(p.acrValues) > 0 {
		acr, _ := claims["acr"].(string)
		if !slices.Contains(p.acrValues, acr) {
			return refuse("ID token rejected: its acr %q is not one of the acr_values %v that client_kwargs requires", acr, p.acrValues)
		}
	}
	if !p.hasMaxAge && !p.promptLogin {
		return nil
	}
	authTime, ok := claims["auth_time"].(float64)
	if !ok {
		return refuse("ID token rejected: it has no auth_time, which client_kwargs' max_age or prompt = \"login\" requires")
	}
	at := time.Unix(int64(authTime), 0)
	if p.hasMaxAge && now.Sub(at) > p.maxAge+strengthSkew {
		return refuse("ID token rejected: the user authenticated %s ago, more than client_kwargs' max_age of %s", now.Sub(at).Round(time.Second), p.maxAge)
	}
	if p.promptLogin && at.Before(started.Add(-promptLoginWindow)) {
		return refuse("ID token rejected: the user authenticated at %s, before this login started, although client_kwargs' prompt = \"login\" asks the provider to authenticate again", at.UTC().Format(time.RFC3339))
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
		return refuse("userinfo request failed: %s", loggable(err))
	}
	if info.Subject != id.claims["sub"] {
		return refuse("userinfo rejected: its sub is not the ID token's")
	}
	extra := map[string]any{}
	if err := info.Claims(&extra); err != nil {
		return refuse("userinfo rejected: %s", loggable(err))
	}
	for k, v := range extra {
		if !slices.Contains(protectedClaims, k) {
			id.claims[k] = v
		}
	}
	return nil
}

// refreshTokens redeems a refresh token for a new access token (OpenID Connect Core
// 1.0 §12). A new ID token, when sent, must name the same subject.
func (p *provider) refreshTokens(ctx context.Context, refreshToken, sub string) (*oauth2.Token, error) {
	d, err := p.discover(ctx)
	if err != nil {
		return nil, err
	}
	ctx = p.withClient(ctx)
	token, err := d.oauth.TokenSource(ctx, &oauth2.Token{RefreshToken: refreshToken, Expiry: time.Unix(1, 0)}).Token()
	if err != nil {
		return nil, err
	}
	if raw, _ := token.Extra("id_token").(string); raw != "" {
		idt, err := d.verifier.Verify(ctx, raw)
		if err != nil {
			return nil, err
		}
		if idt.Subject != sub {
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
