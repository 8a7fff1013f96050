package stauth

import (
	"errors"
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
