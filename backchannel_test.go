package stauth

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/stauth/caddy-stauth/internal/hostileop"
)

// logoutClaims are the claims of a valid logout token of the site's
// provider for sub.
func logoutClaims(s *testSite, sub string) map[string]any {
	return map[string]any{
		"iss": s.OP.URL, "aud": s.OP.ClientID, "iat": time.Now().Unix(), "exp": time.Now().Add(2 * time.Minute).Unix(),
		"jti": randomHex(), "sub": sub,
		"events": map[string]any{backchannelEvent: map[string]any{}},
	}
}

// randomHex is 16 random bytes in hex.
func randomHex() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// signLogoutToken signs claims with key, as the provider would.
func signLogoutToken(t *testing.T, key *hostileop.Key, claims map[string]any) string {
	t.Helper()
	raw, err := key.SignJWT("logout+jwt", claims, nil)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// unsignedToken is a JWT with header alg and an empty (alg none) or
// arbitrary signature.
func unsignedToken(t *testing.T, alg string, claims map[string]any, sig string) string {
	t.Helper()
	header, _ := json.Marshal(map[string]any{"alg": alg, "kid": "rsa-1", "typ": "logout+jwt"})
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return enc(header) + "." + enc(payload) + "." + sig
}

// postLogoutToken posts a logout token to the back-channel endpoint.
func (s *testSite) postLogoutToken(t *testing.T, token string) (int, string, http.Header) {
	t.Helper()
	resp, err := http.PostForm(s.URL+DefaultBackchannelLogoutPath, url.Values{"logout_token": {token}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header
}

// TestBackchannelRefusals: every logout token that breaks a rule of
// Back-Channel Logout 1.0 §2.6 gets 400 invalid_request and revokes
// nothing.
func TestBackchannelRefusals(t *testing.T) {
	s := newTestSite(t, siteOptions{})
	b := s.browser(t)
	b.mustLogIn("/auth/login", "/")
	rsa := hostileop.SharedRSAKey("rsa-1")
	edit := func(f func(c map[string]any)) string {
		c := logoutClaims(s, hostileop.DefaultSubject)
		f(c)
		return signLogoutToken(t, rsa, c)
	}
	replayed := edit(func(map[string]any) {})
	if status, body, _ := s.postLogoutToken(t, replayed); status != http.StatusOK {
		t.Fatalf("a valid token: %d %s", status, body)
	}
	waitNextSecond() // the token logged the user out before its second's end
	b.mustLogIn("/auth/login", "/")
	hmacToken := func() string {
		c := logoutClaims(s, hostileop.DefaultSubject)
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte(s.OP.ClientSecret)}, (&jose.SignerOptions{}).WithHeader("kid", "rsa-1"))
		if err != nil {
			t.Fatal(err)
		}
		payload, _ := json.Marshal(c)
		jws, err := signer.Sign(payload)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := jws.CompactSerialize()
		return raw
	}
	badSig := func() string {
		raw := edit(func(map[string]any) {})
		parts := strings.Split(raw, ".")
		sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
		sig[0] ^= 0x80
		return parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig)
	}
	for _, c := range []struct {
		name, token string
		want        string // in error_description
	}{
		{"bad-signature", badSig(), "signature is not valid"},
		{"unpublished-key", signLogoutToken(t, hostileop.SharedRSAKey("attacker"), logoutClaims(s, hostileop.DefaultSubject)), "signature is not valid"},
		{"wrong-iss", edit(func(c map[string]any) { c["iss"] = s.OP.URL + "/other" }), "issuer is not"},
		{"wrong-aud", edit(func(c map[string]any) { c["aud"] = "another-client" }), "audience"},
		{"no-iat", edit(func(c map[string]any) { delete(c, "iat") }), "no iat"},
		{"iat-in-the-future", edit(func(c map[string]any) { c["iat"] = time.Now().Add(time.Hour).Unix() }), "in the future"},
		{"expired", edit(func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() }), "expired"},
		{"no-jti", edit(func(c map[string]any) { delete(c, "jti") }), "no jti"},
		{"replayed-jti", replayed, "replayed"},
		{"no-events", edit(func(c map[string]any) { delete(c, "events") }), "events claim"},
		{"wrong-event-member", edit(func(c map[string]any) {
			c["events"] = map[string]any{"http://schemas.openid.net/event/frontchannel-logout": map[string]any{}}
		}), "events claim"},
		{"event-not-an-object", edit(func(c map[string]any) { c["events"] = map[string]any{backchannelEvent: "yes"} }), "events claim"},
		{"nonce-present", edit(func(c map[string]any) { c["nonce"] = "n-0S6_WzA2Mj" }), "nonce"},
		{"neither-sid-nor-sub", edit(func(c map[string]any) { delete(c, "sub") }), "neither"},
		{"alg-none", unsignedToken(t, "none", logoutClaims(s, hostileop.DefaultSubject), ""), "asymmetric"},
		{"alg-HS256-client-secret", hmacToken(), "asymmetric"},
		{"not-a-jwt", "not-a-jwt", "asymmetric"},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, body, header := s.postLogoutToken(t, c.token)
			var answer map[string]string
			if status != http.StatusBadRequest || json.Unmarshal([]byte(body), &answer) != nil || answer["error"] != "invalid_request" || !strings.Contains(answer["error_description"], c.want) || header.Get("Cache-Control") != "no-store" {
				t.Fatalf("%d %s (Cache-Control %q), want 400 invalid_request saying %q, no-store", status, body, header.Get("Cache-Control"), c.want)
			}
			b.in(t).assertLoggedInAs(hostileop.DefaultSubject)
		})
	}
	t.Run("GET", func(t *testing.T) {
		resp, err := http.Get(s.URL + DefaultBackchannelLogoutPath + "?logout_token=" + replayed)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Fatalf("GET: %s", resp.Status)
		}
	})
}

// TestBackchannelLogout: a logout token with a sid ends the sessions
// of that provider session only; one with a sub alone ends every session of
// the user issued before it, and a login after it is fine.
func TestBackchannelLogout(t *testing.T) {
	s := newTestSite(t, siteOptions{})
	rsa := hostileop.SharedRSAKey("rsa-1")
	loginWithSid := func(sid string) (*testBrowser, string) {
		s.OP.Set(func(b *hostileop.Behaviour) {
			b.Claims = func(c map[string]any) { c["sid"] = sid }
		})
		b := s.browser(t)
		b.mustLogIn("/auth/login", "/")
		return b, b.cookie("stauth_session")
	}
	t.Run("by-sid", func(t *testing.T) {
		first, firstCookie := loginWithSid("op-session-1")
		second, _ := loginWithSid("op-session-2")
		c := logoutClaims(s, "")
		delete(c, "sub")
		c["sid"] = "op-session-1"
		status, body, header := s.postLogoutToken(t, signLogoutToken(t, rsa, c))
		if status != http.StatusOK || header.Get("Cache-Control") != "no-store" {
			t.Fatalf("logout by sid: %d %s (Cache-Control %q)", status, body, header.Get("Cache-Control"))
		}
		if got := s.replayStatus(t, firstCookie); got != http.StatusUnauthorized {
			t.Fatalf("the session of the logged-out sid: %d", got)
		}
		first.assertLoggedOut()
		second.assertLoggedInAs(hostileop.DefaultSubject)
	})
	t.Run("by-sub", func(t *testing.T) {
		one, _ := loginWithSid("op-session-3")
		two, _ := loginWithSid("op-session-4")
		status, body, _ := s.postLogoutToken(t, signLogoutToken(t, rsa, logoutClaims(s, hostileop.DefaultSubject)))
		if status != http.StatusOK {
			t.Fatalf("logout by sub: %d %s", status, body)
		}
		one.assertLoggedOut()
		two.assertLoggedOut()
		// A session issued in the same second as the logout counts as
		// before it: the next second's login is a new one.
		waitNextSecond()
		after, _ := loginWithSid("op-session-5")
		after.assertLoggedInAs(hostileop.DefaultSubject)
	})
}

// waitNextSecond returns once the wall clock's Unix second has changed:
// a session issued then is after a "logged out before" marker set now.
func waitNextSecond() {
	start := time.Now().Unix()
	timer := time.NewTimer(time.Until(time.Unix(start+1, 0)))
	<-timer.C
}

// TestBackchannelLogoutEndsBearerTokens: a back-channel logout of a user
// also refuses the bearer tokens issued to them before it; a token issued
// after it works.
func TestBackchannelLogoutEndsBearerTokens(t *testing.T) {
	s := newTestSite(t, siteOptions{stauth: "bearer"})
	rsa := hostileop.SharedRSAKey("rsa-1")
	token := func(iat time.Time) string {
		return mint(t, rsa, jose.RS256, map[string]any{"iss": s.OP.Issuer(), "sub": "api-user", "aud": s.OP.ClientID,
			"iat": iat.Unix(), "exp": iat.Add(10 * time.Minute).Unix()}, nil)
	}
	before := token(time.Now().Add(-time.Minute))
	status := func(raw string) int {
		return s.browser(t).do(http.MethodGet, "/private", "Authorization", "Bearer "+raw).StatusCode
	}
	if got := status(before); got != http.StatusOK {
		t.Fatalf("a valid bearer token: %d", got)
	}
	if got, body, _ := s.postLogoutToken(t, signLogoutToken(t, rsa, logoutClaims(s, "api-user"))); got != http.StatusOK {
		t.Fatalf("back-channel logout: %d %s", got, body)
	}
	if got := status(before); got != http.StatusUnauthorized {
		t.Fatalf("a bearer token issued before the user's logout: %d, want 401", got)
	}
	if got := status(token(time.Now().Add(2 * time.Second))); got != http.StatusOK {
		t.Fatalf("a bearer token issued after the logout: %d", got)
	}
}
