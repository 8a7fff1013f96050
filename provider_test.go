package stauth

import (
	"strings"
	"testing"
)

// TestCheckEndpoints: every endpoint of a discovery document stauth uses is
// an absolute URL without credentials, and https when the document is.
func TestCheckEndpoints(t *testing.T) {
	good := func() *providerMetadata {
		return &providerMetadata{
			AuthorizationEndpoint: "https://op.example/authorize",
			TokenEndpoint:         "https://op.example/token",
			JWKSURI:               "https://op.example/keys",
			UserinfoEndpoint:      "https://op.example/userinfo",
			EndSessionEndpoint:    "https://op.example/logout",
		}
	}
	for _, c := range []struct {
		name  string
		edit  func(m *providerMetadata)
		https bool
		want  string
	}{
		{"all https", func(*providerMetadata) {}, true, ""},
		{"optional endpoints absent", func(m *providerMetadata) { m.UserinfoEndpoint, m.EndSessionEndpoint = "", "" }, true, ""},
		{"http document, http endpoints", func(m *providerMetadata) { m.TokenEndpoint = "http://127.0.0.1:5556/token" }, false, ""},
		{"relative token endpoint", func(m *providerMetadata) { m.TokenEndpoint = "/token" }, true, `token_endpoint "/token" must be an absolute URL`},
		{"authorization endpoint missing", func(m *providerMetadata) { m.AuthorizationEndpoint = "" }, true, `authorization_endpoint "" must be an absolute URL`},
		{"relative end_session_endpoint", func(m *providerMetadata) { m.EndSessionEndpoint = "logout" }, true, `end_session_endpoint "logout" must be an absolute URL`},
		{"javascript userinfo", func(m *providerMetadata) { m.UserinfoEndpoint = "javascript:alert(1)" }, true, `userinfo_endpoint "javascript:alert(1)" must be an absolute URL`},
		{"keys downgraded to http", func(m *providerMetadata) { m.JWKSURI = "http://op.example/keys" }, true, `jwks_uri "http://op.example/keys" must use https, as the discovery document does`},
		{"credentials in the token endpoint", func(m *providerMetadata) { m.TokenEndpoint = "https://u:pw@op.example/token" }, true, `token_endpoint "https://u:xxxxx@op.example/token" must not hold a user name or password`},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := good()
			c.edit(m)
			err := checkEndpoints(m, c.https)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("error %v, want it to contain %q", err, c.want)
			}
		})
	}
}
