package stauth

// OpenID Connect Back-Channel Logout 1.0: a provider POSTs a logout token
// (a JWT it signs) when a user logs out there, and stauth revokes the
// sessions it names.

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Back-channel logout limits.
const (
	// maxLogoutRequest bounds the body of a back-channel logout request.
	maxLogoutRequest = 64 << 10
	// backchannelEvent is the member of a logout token's events claim.
	backchannelEvent = "http://schemas.openid.net/event/backchannel-logout"
	// backchannelTimeout bounds the work on one logout token.
	backchannelTimeout = 20 * time.Second
)

// logoutToken is what a verified logout token asks: the sessions at
// provider with sid, or else every session of sub.
type logoutToken struct {
	provider *provider
	sid, sub string
	jti      string
	expiry   time.Time
}

// logoutTokenError is a logout token that is refused (400) or that could
// not be checked now (503: the provider should send it again).
type logoutTokenError struct {
	unavailable bool
	reason      string
	err         error
}

func (e *logoutTokenError) Error() string {
	if e.err != nil {
		return e.reason + ": " + e.err.Error()
	}
	return e.reason
}

// invalidLogoutToken is a refused logout token.
func invalidLogoutToken(reason string, err error) *logoutTokenError {
	return &logoutTokenError{reason: reason, err: err}
}

// serveBackchannelLogout answers a provider's back-channel logout: 200 once
// the sessions are revoked, 400 with a JSON error for a token it refuses,
// 503 when the revocation or the token's id could not be stored or the
// provider's keys fetched, so that the provider sends it again.
func (s *Stauth) serveBackchannelLogout(w http.ResponseWriter, r *http.Request) error {
	if !allowMethods(w, r, http.MethodPost) {
		return nil
	}
	w.Header().Set("Cache-Control", "no-store")
	r.Body = http.MaxBytesReader(w, r.Body, maxLogoutRequest)
	if err := r.ParseForm(); err != nil {
		return s.backchannelAnswer(w, r, invalidLogoutToken("the body is not a form", err))
	}
	raw := r.PostForm["logout_token"]
	if len(raw) != 1 || raw[0] == "" {
		return s.backchannelAnswer(w, r, invalidLogoutToken("the request must carry one logout_token", nil))
	}
	ctx, cancel := context.WithTimeout(r.Context(), backchannelTimeout)
	defer cancel()
	lt, err := s.verifyLogoutToken(ctx, raw[0])
	if err == nil {
		err = s.applyLogoutToken(ctx, lt, clientIP(r))
	}
	return s.backchannelAnswer(w, r, err)
}

// backchannelAnswer writes the answer to a back-channel logout, counts it
// and logs a refusal.
func (s *Stauth) backchannelAnswer(w http.ResponseWriter, r *http.Request, err error) error {
	var lerr *logoutTokenError
	switch {
	case err == nil:
		s.counters().backchannel.WithLabelValues("ok").Inc()
		w.WriteHeader(http.StatusOK)
		return nil
	case errors.As(err, &lerr) && !lerr.unavailable:
		s.counters().backchannel.WithLabelValues("invalid").Inc()
		s.logger.Info("back-channel logout refused", zap.String("client_ip", clientIP(r)), zap.Error(err))
		return writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": lerr.reason})
	}
	s.counters().backchannel.WithLabelValues("unavailable").Inc()
	s.logger.Error("back-channel logout not done; the provider should send it again", zap.String("client_ip", clientIP(r)), zap.Error(err))
	return writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "temporarily_unavailable", "error_description": "the logout could not be recorded; send it again"})
}

// verifyLogoutToken checks a logout token (Back-Channel Logout 1.0 §2.6):
// an asymmetric signature by a configured provider's published key (with
// the bearer verifier's key set, fetched again at most once a minute for
// an unknown kid, so forged tokens cannot make stauth hammer the
// provider), iss
// exactly its issuer, aud naming its client_id, exp and iat (not ahead of
// the clock), jti, the back-channel logout event, no nonce, and a sid or a
// sub.
func (s *Stauth) verifyLogoutToken(ctx context.Context, raw string) (*logoutToken, error) {
	if len(raw) > maxBearerToken {
		return nil, invalidLogoutToken("the logout token is too long", nil)
	}
	iss, err := unverifiedIssuer(raw)
	if err != nil {
		return nil, invalidLogoutToken("the logout token is not a JWT signed with an asymmetric algorithm", err)
	}
	var p *provider
	for _, candidate := range s.providerOrder {
		if mayIssue(candidate, iss) {
			p = candidate
			break
		}
	}
	if p == nil {
		return nil, invalidLogoutToken("the logout token's issuer is not a provider of this site", nil)
	}
	bi, err := s.logoutVerifier.issuerFor(ctx, p)
	if err != nil {
		return nil, &logoutTokenError{unavailable: true, reason: "the provider's discovery or keys are not available", err: err}
	}
	if iss != bi.issuer {
		return nil, invalidLogoutToken("the logout token's issuer is not a provider of this site", nil)
	}
	var keyErr error
	idt, err := bi.verifier.Verify(withKeyErrorSlot(ctx, &keyErr), raw)
	switch {
	case keyErr != nil && keyErrorDescription(keyErr) == bearerUnavailable:
		return nil, &logoutTokenError{unavailable: true, reason: "the provider's keys could not be fetched", err: keyErr}
	case keyErr != nil:
		return nil, invalidLogoutToken("the logout token's signature is not valid", keyErr)
	case err != nil:
		return nil, invalidLogoutToken("the logout token is malformed", err)
	case !slices.Contains(idt.Audience, p.clientID):
		return nil, invalidLogoutToken("the logout token's audience is not this site's client_id", nil)
	case idt.Expiry.IsZero() || !time.Now().Before(idt.Expiry):
		return nil, invalidLogoutToken("the logout token has expired or has no exp", nil)
	}
	var claims struct {
		JTI    string          `json:"jti"`
		Sid    string          `json:"sid"`
		Events map[string]any  `json:"events"`
		Nonce  json.RawMessage `json:"nonce"`
		Iat    json.RawMessage `json:"iat"`
	}
	if err := idt.Claims(&claims); err != nil {
		return nil, invalidLogoutToken("the logout token's claims are malformed", err)
	}
	event, hasEvent := claims.Events[backchannelEvent]
	_, eventIsObject := event.(map[string]any)
	switch {
	case len(claims.Iat) == 0 || idt.IssuedAt.IsZero():
		return nil, invalidLogoutToken("the logout token has no iat", nil)
	case time.Until(idt.IssuedAt) > maxClockSkew:
		return nil, invalidLogoutToken("the logout token's iat is in the future", nil)
	case claims.JTI == "":
		return nil, invalidLogoutToken("the logout token has no jti", nil)
	case !hasEvent || !eventIsObject:
		return nil, invalidLogoutToken("the logout token's events claim has no back-channel logout event", nil)
	case len(claims.Nonce) > 0:
		return nil, invalidLogoutToken("a logout token must not carry a nonce", nil)
	case claims.Sid == "" && idt.Subject == "":
		return nil, invalidLogoutToken("the logout token names neither a sid nor a sub", nil)
	}
	return &logoutToken{provider: p, sid: claims.Sid, sub: idt.Subject, jti: claims.JTI, expiry: idt.Expiry}, nil
}

// retryableJTIs remembers the logout tokens whose jti was recorded but
// whose revocation was not, so that the provider's retry to this instance
// is not refused as a replay.
var retryableJTIs sync.Map // [32]byte -> time.Time (until)

// applyLogoutToken refuses a replayed token, then revokes the sessions it
// names: by sid when it has one, else every session of its sub issued
// until now.
func (s *Stauth) applyLogoutToken(ctx context.Context, lt *logoutToken, ip string) error {
	p := lt.provider
	retryKey := sha256.Sum256([]byte(p.binding + "\x00" + lt.jti))
	replayed, err := s.revocations.SeenJTI(ctx, p.binding, lt.jti, lt.expiry)
	if err != nil {
		return &logoutTokenError{unavailable: true, reason: "the logout token's id could not be recorded", err: err}
	}
	if replayed {
		until, retry := retryableJTIs.LoadAndDelete(retryKey)
		if !retry || time.Now().After(until.(time.Time)) {
			return invalidLogoutToken("the logout token was used already (replayed jti)", nil)
		}
	}
	now := time.Now()
	until := now.Add(s.markLifetime())
	kind := "sid"
	if lt.sid != "" {
		err = s.revocations.RevokeSID(ctx, p.binding, lt.sid, until)
	} else {
		kind = "sub"
		err = s.revocations.RevokeSubBefore(ctx, p.binding, lt.sub, now, until)
	}
	s.audit("revocation", p.name, lt.sub, "", ip, zap.String("kind", "backchannel-"+kind), zap.Bool("stored", err == nil))
	if err != nil {
		retryableJTIs.Range(func(k, until any) bool {
			if now.After(until.(time.Time)) {
				retryableJTIs.Delete(k)
			}
			return true
		})
		retryableJTIs.Store(retryKey, lt.expiry)
		return &logoutTokenError{unavailable: true, reason: "the revocation could not be recorded", err: err}
	}
	return nil
}
