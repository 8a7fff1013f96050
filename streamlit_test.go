package stauth

import (
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// streamlitToken signs a login token the way st.login does.
func streamlitToken(t *testing.T, alg jose.SignatureAlgorithm, key any, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestStreamlitLoginToken(t *testing.T) {
	now := time.Unix(1800000000, 0)
	secrets := []string{testCookieSecret, "the-previous-secret-0123456789abcdef"}
	valid := map[string]any{"provider": "google", "exp": now.Unix() + 120}
	cases := []struct {
		name, token, want, err string
	}{
		{"valid", streamlitToken(t, jose.HS256, []byte(testCookieSecret), valid), "google", ""},
		{"previous secret", streamlitToken(t, jose.HS256, []byte(secrets[1]), valid), "google", ""},
		{"expired", streamlitToken(t, jose.HS256, []byte(testCookieSecret), map[string]any{"provider": "google", "exp": now.Unix() - 60}), "", "expired"},
		{"no expiry", streamlitToken(t, jose.HS256, []byte(testCookieSecret), map[string]any{"provider": "google"}), "", "no expiry"},
		{"other secret", streamlitToken(t, jose.HS256, []byte("some-other-secret-0123456789abcdef"), valid), "", "not signed with cookie_secret"},
		{"HS512", streamlitToken(t, jose.HS512, []byte(strings.Repeat(testCookieSecret, 2)), valid), "", "unexpected signature algorithm"},
		{"alg none", "eyJhbGciOiJub25lIn0.eyJwcm92aWRlciI6Imdvb2dsZSIsImV4cCI6MTgwMDAwMDEyMH0.", "", "unexpected signature algorithm"},
		{"garbage", "a.b.c", "", "illegal base64"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := providerFromLoginToken(c.token, secrets, now)
			if c.err == "" && (err != nil || got != c.want) {
				t.Fatalf("got %q, %v; want %q", got, err, c.want)
			}
			if c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
				t.Fatalf("got %q, %v; want an error containing %q", got, err, c.err)
			}
		})
	}
}

func TestParseStreamlitUserFormat(t *testing.T) {
	cases := []struct {
		in   string
		want streamlitUserFormat
		err  string
	}{
		{"tornado", streamlitUserTornado, ""},
		{"starlette", streamlitUserStarlette, ""},
		{"Tornado", streamlitUserOff, `streamlit_user: unknown value "Tornado": use "tornado" for Streamlit 1.56 and older`},
		{"", streamlitUserOff, `"starlette" for Streamlit 1.57 and newer`},
	}
	for _, c := range cases {
		got, err := parseStreamlitUserFormat(c.in)
		if got != c.want || (c.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Errorf("parseStreamlitUserFormat(%q) = %v, %v; want %v, error containing %q", c.in, got, err, c.want, c.err)
		}
		if err == nil && got.String() != c.in {
			t.Errorf("String() = %q, want %q", got.String(), c.in)
		}
	}
}

func TestStreamlitOrigin(t *testing.T) {
	cases := []struct{ in, want, err string }{
		{"https://app.example/oauth2callback", "https://app.example", ""},
		{"http://localhost:8501/base/oauth2callback?x=1", "http://localhost:8501", ""},
		{"https://[::1]:8443/oauth2callback", "https://[::1]:8443", ""},
		{"/oauth2callback", "", "no scheme://host"},
		{"http://%zz", "", "invalid URL escape"},
	}
	for _, c := range cases {
		got, err := streamlitOrigin(c.in)
		if got != c.want || (c.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Errorf("streamlitOrigin(%q) = %q, %v; want %q, error containing %q", c.in, got, err, c.want, c.err)
		}
	}
}
