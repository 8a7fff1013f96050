package stauth

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// loginTokenLeeway allows for clock drift between the Streamlit app that signs
// a login link and Caddy.
const loginTokenLeeway = 10 * time.Second

// streamlitLoginClaims are the claims of the token st.login puts in
// /auth/login?provider=…: the provider's name and an expiry.
type streamlitLoginClaims struct {
	Provider string `json:"provider"`
	jwt.Claims
}

// providerFromLoginToken returns the provider named by a login token signed
// by Streamlit (HS256, keyed with cookie_secret), when it verifies and has not
// expired.
func providerFromLoginToken(raw string, secrets []string, now time.Time) (string, error) {
	token, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.HS256})
	if err != nil {
		return "", err
	}
	for _, secret := range secrets {
		var claims streamlitLoginClaims
		if err := token.Claims([]byte(secret), &claims); err != nil {
			continue
		}
		if claims.Expiry == nil {
			return "", errors.New("the login token has no expiry")
		}
		if err := claims.ValidateWithLeeway(jwt.Expected{Time: now}, loginTokenLeeway); err != nil {
			return "", err
		}
		return claims.Provider, nil
	}
	return "", errors.New("the login token is not signed with cookie_secret or cookie_secret_previous: the Streamlit app's secrets.toml and Caddy's must hold the same cookie_secret")
}

// The Streamlit app behind stauth reads the user in its own _streamlit_user
// cookie, signed with cookie_secret; stauth mints that cookie into the Cookie
// header the upstream receives, so st.user works unchanged.

// streamlitUserCookie and streamlitTokensCookie are the names Streamlit gives
// its identity cookies; every cookie whose name starts with
// streamlitUserCookie (chunks too) is Streamlit's.
const (
	streamlitUserCookie   = "_streamlit_user"
	streamlitTokensCookie = "_streamlit_user_tokens"
)

// streamlitMaxCookie, streamlitCookieAttrs and streamlitSigningSlack are the
// figures Streamlit splits a cookie with: the browser limit, the attributes
// it counts into a cookie's size, and its safety margin for signing.
const (
	streamlitMaxCookie    = 4096
	streamlitCookieAttrs  = len("; Path=/; HttpOnly")
	streamlitSigningSlack = 50
)

// streamlitMintSkew backdates minted cookies so that a Streamlit host whose
// clock is a little behind Caddy's does not see a timestamp in the future
// (itsdangerous refuses those).
const streamlitMintSkew = 5 * time.Second

// streamlitUserFormat is how the upstream Streamlit signs _streamlit_user.
type streamlitUserFormat uint8

const (
	// streamlitUserOff mints no cookie.
	streamlitUserOff streamlitUserFormat = iota
	// streamlitUserTornado is Tornado's create_signed_value, version 2:
	// Streamlit 1.56 and older.
	streamlitUserTornado
	// streamlitUserStarlette is itsdangerous' URLSafeTimedSerializer with
	// the cookie name as salt: Streamlit 1.57 and newer.
	streamlitUserStarlette
)

// parseStreamlitUserFormat reads the streamlit_user option.
func parseStreamlitUserFormat(s string) (streamlitUserFormat, error) {
	switch s {
	case "tornado":
		return streamlitUserTornado, nil
	case "starlette":
		return streamlitUserStarlette, nil
	}
	return streamlitUserOff, fmt.Errorf(`streamlit_user: unknown value %q: use "tornado" for Streamlit 1.56 and older (Tornado server) or "starlette" for Streamlit 1.57 and newer (Starlette server)`, s)
}

// String is the option value naming the format.
func (f streamlitUserFormat) String() string {
	switch f {
	case streamlitUserTornado:
		return "tornado"
	case streamlitUserStarlette:
		return "starlette"
	}
	return "off"
}

// streamlitUserPayload is the JSON Streamlit keeps in _streamlit_user: every
// claim, then origin, is_logged_in and provider over any claim of the same
// name. It is pure ASCII (as Python's json.dumps writes it), so that chunks
// cut at any byte stay valid text.
func streamlitUserPayload(claims map[string]any, origin, provider string) ([]byte, error) {
	m := make(map[string]any, len(claims)+3)
	for k, v := range claims {
		m[k] = v
	}
	m["origin"] = origin
	m["is_logged_in"] = true
	m["provider"] = provider
	return asciiJSON(m)
}

// streamlitOrigin is the origin Streamlit keeps in _streamlit_user and
// compares with the browser's Origin: scheme://host[:port] of redirectURI.
func streamlitOrigin(redirectURI string) (string, error) {
	u, err := url.Parse(redirectURI)
	if err != nil {
		return "", err
	}
	if u.Scheme == "" || u.Host == "" {
		return "", fmt.Errorf("redirect_uri %q has no scheme://host to take the app's origin from", redirectURI)
	}
	return u.Scheme + "://" + u.Host, nil
}

// streamlitTokensPayload is the JSON Streamlit keeps in
// _streamlit_user_tokens, holding only the tokens given (the exposed ones);
// nil when there are none.
func streamlitTokensPayload(idToken, accessToken string) ([]byte, error) {
	if idToken == "" && accessToken == "" {
		return nil, nil
	}
	m := make(map[string]string, 2)
	if idToken != "" {
		m["id_token"] = idToken
	}
	if accessToken != "" {
		m["access_token"] = accessToken
	}
	return asciiJSON(m)
}

// mintStreamlitUser returns the Cookie header pairs ("name=value; …") that
// carry user and, when not empty, tokens to the upstream Streamlit, signed
// with secret as of now-streamlitMintSkew. The string can be cached and
// handed to rewriteStreamlitCookies for every request of a session (for
// less than 31 days, Streamlit's limit on a cookie's age).
func mintStreamlitUser(f streamlitUserFormat, secret string, user, tokens []byte, now time.Time) string {
	if f == streamlitUserOff {
		return ""
	}
	out := mintStreamlitCookie(f, secret, streamlitUserCookie, user, now)
	if len(tokens) > 0 {
		out += "; " + mintStreamlitCookie(f, secret, streamlitTokensCookie, tokens, now)
	}
	return out
}
