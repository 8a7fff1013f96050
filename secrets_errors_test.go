package stauth

import (
	"strings"
	"testing"
)

// TestMisspelledKeys checks that a missing key names the misspelled key
// that was probably meant for it, and never a value.
func TestMisspelledKeys(t *testing.T) {
	misspelt := func(text, from, to string) string { return strings.Replace(text, from, to, 1) }
	cases := []struct {
		name, toml, want string
	}{
		{"swapped letters", misspelt(validAuth, "client_secret =", "client_secert ="),
			"[auth]: client_secret is missing; client_secert looks like a misspelling of it"},
		{"named provider", sharedOnly + misspelt(namedProvider, "client_id =", "clientid ="),
			"[auth.google]: client_id is missing; clientid looks like a misspelling of it"},
		{"cookie_secret tells how to make one", misspelt(validAuth, "cookie_secret =", "cookie_secrte ="),
			"cookie_secret is missing; cookie_secrte looks like a misspelling of it; make one with `openssl rand -hex 32`"},
		{"cookie_secret absent", misspelt(validAuth, "cookie_secret =", "# cookie_secret ="),
			"[auth]: cookie_secret is missing; make one with `openssl rand -hex 32`"},
		{"a far key is no misspelling", misspelt(validAuth, "client_secret =", "password ="),
			"[auth]: client_secret is missing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := parseSecrets("secrets.toml", c.toml)
			if err == nil || !strings.HasSuffix(err.Error(), c.want) {
				t.Fatalf("error %v\nwant it to end with %q", err, c.want)
			}
			for _, secret := range []string{testClientSecret, testCookieSecret} {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("the error shows a secret: %v", err)
				}
			}
		})
	}
}

// TestUnknownKeyWarning checks that an unknown key's warning names the
// known key it is closest to.
func TestUnknownKeyWarning(t *testing.T) {
	cases := []struct{ key, want string }{
		{"redirect_url", "redirect_url is not a key stauth knows; it is ignored; did you mean redirect_uri?"},
		{"Display_Name", "Display_Name is not a key stauth knows; it is ignored; did you mean display_name?"},
		{"colour", "colour is not a key stauth knows; it is ignored"},
	}
	for _, c := range cases {
		s, err := parseSecrets("secrets.toml", validAuth+c.key+" = \"x\"\n")
		if err != nil {
			t.Fatal(err)
		}
		if len(s.warnings) != 1 || !strings.HasSuffix(s.warnings[0], c.want) {
			t.Fatalf("warnings %q, want one ending with %q", s.warnings, c.want)
		}
	}
}
