package devop

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// CookieSecret returns a fresh cookie_secret: 32 random bytes, in hex.
func CookieSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("devop: generating a cookie secret: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// AuthSection is the [auth] section of a secrets.toml (Streamlit's schema)
// for a site whose redirect_uri is redirectURI, logging in through this
// provider's client.
func (p *Provider) AuthSection(redirectURI, cookieSecret string) string {
	return fmt.Sprintf(`[auth]
redirect_uri = %q
cookie_secret = %q   # random; make another with: openssl rand -hex 32
client_id = %q
client_secret = %q
server_metadata_url = %q
`, redirectURI, cookieSecret, p.ClientID, p.ClientSecret, p.MetadataURL)
}

// checkRedirectURIs refuses a redirect URI the client could not use: each
// must be an absolute http or https URL with a host and no fragment, as
// OpenID Connect requires and stauth's redirect_uri is.
func checkRedirectURIs(uris []string) error {
	for _, raw := range uris {
		if strings.Contains(raw, "{port}") {
			return errors.New("devop: redirect URI " + raw + " holds {port}: give it with the port the site listens on")
		}
		u, err := url.Parse(raw)
		switch {
		case err != nil:
			return fmt.Errorf("devop: redirect URI %q: %w", raw, err)
		case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
			return fmt.Errorf("devop: redirect URI %q is not an absolute http or https URL, such as http://localhost:8080/oauth2callback", raw)
		case strings.Contains(raw, "#"):
			return fmt.Errorf("devop: redirect URI %q has a fragment, which OpenID Connect forbids", raw)
		}
	}
	return nil
}
