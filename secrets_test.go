package stauth

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode"

	"github.com/BurntSushi/toml"
)

// FuzzParseSecrets feeds secrets.toml text, with SECRET replaced by a
// secret value, to parseSecrets: it must never panic, and its error must
// never show the value of client_secret, cookie_secret or
// cookie_secret_previous.
func FuzzParseSecrets(f *testing.F) {
	seeds := []string{
		"[auth]\nredirect_uri = \"https://app.example/oauth2callback\"\ncookie_secret = \"SECRET\"\nclient_id = \"c\"\nclient_secret = \"SECRET\"\nserver_metadata_url = \"https://op.example/.well-known/openid-configuration\"\n",
		"[auth]\nredirect_uri = \"https://app.example/oauth2callback\"\ncookie_secret = \"SECRET\"\n[auth.google]\nclient_id = \"c\"\nclient_secret = SECRET\nserver_metadata_url = \"https://accounts.google.com/.well-known/openid-configuration\"\n",
		"[auth]\ncookie_secret = 'SECRET'\nclient_secret = \"\"\"SECRET\"\"\"\n",
		"[auth]\ncookie_secret = \"SECRET\nclient_secret = \"x\"\n",
		"[auth]\ncookie_secret = \"SECRET\"\ncookie_secret_previous = [\"SECRET\", 1]\n",
		"[auth]\ncookie_secret = \"SECRET\"\ncookie_secret = \"SECRET\"\n",
		"[auth]\ncookie_secret = SECRET-with-dashes\n",
		"[auth]\nclient_secret = { a = \"SECRET\" }\n",
		"[auth]\nclient_secret = [\"SECRET\"]\n",
		"[auth.\"SECRET\"]\nclient_secret = 1\n",
		"auth = \"SECRET\"\n",
		"[auth]\ncookie_secret = \"SECRET\\q\"\n",
		"[auth]\ncookie_secret = 1979-05-27TSECRET\n",
		"[auth]\ncookie_secret = 0xSECRET\n",
		"[auth]\nclient_kwargs = { SECRET = [1] }\n",
		"[auth]\nclient_secret = SECRET\n",
	}
	for _, s := range seeds {
		f.Add(s, "s3cr3tValue9")
		f.Add(s, "Q9xz7Lk2Pw")
	}
	f.Fuzz(func(t *testing.T, text, secret string) {
		if len(text) > 4096 {
			return
		}
		doc := strings.ReplaceAll(text, "SECRET", secret)
		_, err := parseSecrets("secrets.toml", doc)
		if err == nil {
			return
		}
		msg := err.Error()
		for _, value := range secretValues(doc, secret) {
			if len(value) < 6 || !strings.Contains(msg, value) {
				continue
			}
			// A value that is also a word of the message with the secret
			// replaced (a key name, part of a URL) is not a leak.
			neutral := strings.ReplaceAll(doc, value, "Zq7Zq7Zq7Zq7")
			if _, nerr := parseSecrets("secrets.toml", neutral); nerr != nil && strings.Contains(nerr.Error(), value) {
				continue
			}
			t.Fatalf("the error shows a secret value %q:\n%s\n--- secrets.toml:\n%s", value, msg, doc)
		}
	})
}

// secretValues are the values in secret positions of a secrets.toml: when it
// parses, every client_secret, cookie_secret and cookie_secret_previous
// string; when it does not, the substituted secret itself.
func secretValues(doc, secret string) []string {
	var parsed map[string]any
	if _, err := toml.Decode(doc, &parsed); err != nil {
		// Only plain ASCII letters and digits are unambiguous in a parse
		// error; a shorter value could be a word of the message.
		if len(secret) < 8 || strings.TrimFunc(secret, func(r rune) bool { return r < 0x80 && (unicode.IsLetter(r) || unicode.IsDigit(r)) }) != "" {
			return nil
		}
		return []string{secret}
	}
	var out []string
	var walk func(table map[string]any, depth int)
	walk = func(table map[string]any, depth int) {
		for key, value := range table {
			switch v := value.(type) {
			case map[string]any:
				if depth < 3 {
					walk(v, depth+1)
				}
			case string:
				if key == "client_secret" || key == "cookie_secret" || key == "cookie_secret_previous" {
					out = append(out, v)
				}
			case []any:
				if key == "cookie_secret_previous" {
					for _, item := range v {
						if s, ok := item.(string); ok {
							out = append(out, s)
						}
					}
				}
			}
		}
	}
	if auth, ok := parsed["auth"].(map[string]any); ok {
		walk(auth, 0)
	}
	return out
}

// Values that must never appear in an error message.
const (
	testClientSecret = "client-secret-do-not-show"
	testCookieSecret = "cookie-secret-do-not-show-0123456789"
)

// validAuth is a complete [auth] with an unnamed provider.
const validAuth = `[auth]
redirect_uri = "https://app.example.com/oauth2callback"
cookie_secret = "` + testCookieSecret + `"
client_id = "client"
client_secret = "` + testClientSecret + `"
server_metadata_url = "https://accounts.example.com/.well-known/openid-configuration"
`

// sharedOnly is [auth] without a provider.
const sharedOnly = `[auth]
redirect_uri = "https://app.example.com/oauth2callback"
cookie_secret = "` + testCookieSecret + `"
`

// namedProvider is a complete [auth.google].
const namedProvider = `
[auth.google]
client_id = "client"
client_secret = "` + testClientSecret + `"
server_metadata_url = "https://accounts.google.com/.well-known/openid-configuration"
`

func TestSecretsErrors(t *testing.T) {
	cases := []struct {
		name, toml, want string
	}{
		{"no auth section", `[other]` + "\nx = 1\n", `secrets.toml: the [auth] section is missing`},
		{"auth is a value", `auth = "x"`, `secrets.toml: auth must be a section`},
		{"redirect_uri missing", strings.Replace(validAuth, `redirect_uri = "https://app.example.com/oauth2callback"`, "", 1), `secrets.toml: [auth]: redirect_uri is missing`},
		{"redirect_uri not a string", strings.Replace(validAuth, `"https://app.example.com/oauth2callback"`, "42", 1), `[auth]: redirect_uri must be a string`},
		{"redirect_uri relative", strings.Replace(validAuth, `https://app.example.com/oauth2callback`, "/oauth2callback", 1), `[auth]: redirect_uri "/oauth2callback" must be an absolute URL`},
		{"redirect_uri other scheme", strings.Replace(validAuth, `https://app.example.com`, "ftp://app.example.com", 1), `redirect_uri "ftp://app.example.com/oauth2callback" must be an absolute URL`},
		{"redirect_uri without path", strings.Replace(validAuth, `https://app.example.com/oauth2callback`, "https://app.example.com", 1), `needs a path for the login callback`},
		{"redirect_uri with fragment", strings.Replace(validAuth, `/oauth2callback"`, `/oauth2callback#x"`, 1), `must not have a #fragment`},
		{"cookie_secret missing", strings.Replace(validAuth, `cookie_secret = "`+testCookieSecret+`"`, "", 1), `[auth]: cookie_secret is missing`},
		{"cookie_secret short", strings.Replace(validAuth, testCookieSecret, "short", 1), "[auth]: cookie_secret is too short: use at least 16 characters of randomness, e.g. the output of `openssl rand -hex 32`"},
		{"cookie_secret guessable (review item 6)", strings.Replace(validAuth, testCookieSecret, "CompanyName2024!", 1), "[auth]: cookie_secret is easy to guess (words, dates or repeated characters): anyone who sees one of stauth's cookies could test guesses offline and then forge a login; make one with `openssl rand -hex 32`"},
		{"cookie_secret repeated", strings.Replace(validAuth, testCookieSecret, "Summer2024!Summer2024!", 1), "[auth]: cookie_secret is easy to guess"},
		{"cookie_secret one character", strings.Replace(validAuth, testCookieSecret, strings.Repeat("a", 40), 1), "[auth]: cookie_secret is easy to guess"},
		{"cookie_secret_previous guessable", validAuth + `cookie_secret_previous = "passwordpassword1"`, "[auth]: cookie_secret_previous is easy to guess"},
		{"cookie_secret_previous short", validAuth + `cookie_secret_previous = ["` + testCookieSecret + `", "short"]`, `[auth]: cookie_secret_previous is too short`},
		{"cookie_secret_previous number", validAuth + `cookie_secret_previous = 7`, `[auth]: cookie_secret_previous must be a string or a list of strings`},
		{"expose_tokens unknown", validAuth + `expose_tokens = "refresh"`, `[auth]: expose_tokens must be "id", "access" or a list of them`},
		{"expose_tokens list", validAuth + `expose_tokens = ["id", 3]`, `[auth]: expose_tokens must be a string or a list of strings`},
		{"no provider", sharedOnly, `[auth]: no provider is configured`},
		{"named client_secret missing", sharedOnly + strings.Replace(namedProvider, `client_secret = "`+testClientSecret+`"`, "", 1), `secrets.toml: [auth.google]: client_secret is missing`},
		{"named client_id not a string", sharedOnly + strings.Replace(namedProvider, `client_id = "client"`, `client_id = 12`, 1), `[auth.google]: client_id must be a string in quotes`},
		{"named client_id empty", sharedOnly + strings.Replace(namedProvider, `client_id = "client"`, `client_id = " "`, 1), `[auth.google]: client_id is empty`},
		{"unnamed client_secret missing", strings.Replace(validAuth, `client_secret = "`+testClientSecret+`"`, "", 1), `[auth]: client_secret is missing`},
		{"metadata URL relative", strings.Replace(validAuth, `https://accounts.example.com/.well-known`, "accounts.example.com/.well-known", 1), `server_metadata_url "accounts.example.com/.well-known/openid-configuration" must be an absolute URL`},
		{"metadata URL with a password", strings.Replace(validAuth, `https://accounts.example.com`, "https://u:"+testClientSecret+"@accounts.example.com", 1), `[auth]: server_metadata_url "https://u:xxxxx@accounts.example.com/.well-known/openid-configuration" must not hold a user name or password`},
		{"redirect_uri with a password", strings.Replace(validAuth, `https://app.example.com`, "https://u:"+testClientSecret+"@app.example.com", 1), `[auth]: redirect_uri "https://u:xxxxx@app.example.com/oauth2callback" must not hold a user name or password`},
		{"metadata URL not discovery", strings.Replace(validAuth, `/.well-known/openid-configuration`, "/", 1), `must end with /.well-known/openid-configuration`},
		{"client_kwargs not a table", validAuth + `client_kwargs = "prompt=login"`, `[auth]: client_kwargs must be a table`},
		{"client_kwargs owned state", validAuth + `client_kwargs = { state = "x" }`, `[auth]: client_kwargs.state is set by stauth itself for every login; remove it`},
		{"client_kwargs owned redirect_uri", sharedOnly + namedProvider + `client_kwargs = { redirect_uri = "x" }`, `[auth.google]: client_kwargs.redirect_uri is set by stauth itself`},
		{"client_kwargs code_challenge", validAuth + `client_kwargs = { code_challenge = "x" }`, `client_kwargs.code_challenge is set by stauth itself`},
		{"client_kwargs plain PKCE", validAuth + `client_kwargs = { code_challenge_method = "plain" }`, `stauth always uses PKCE with S256`},
		{"client_kwargs scope without openid", validAuth + `client_kwargs = { scope = "profile email" }`, `client_kwargs.scope must include openid`},
		{"client_kwargs auth method", validAuth + `client_kwargs = { token_endpoint_auth_method = "private_key_jwt" }`, `token_endpoint_auth_method must be client_secret_basic or client_secret_post`},
		{"client_kwargs list value", validAuth + `client_kwargs = { acr_values = ["a"] }`, `client_kwargs.acr_values must be a string, a number or a boolean`},
		{"unnamed and default", validAuth + strings.Replace(namedProvider, "google", "default", 1), `the unnamed provider (client_id, … in [auth]) and [auth.default] are the same provider`},
		{"provider key stray in [auth]", sharedOnly + `display_name = "Staff"` + "\n" + namedProvider, `secrets.toml: [auth]: it holds provider settings (display_name) besides the [auth.NAME] sections: move them into the provider's section`},
		{"expose_tokens in provider", sharedOnly + namedProvider + `expose_tokens = "id"`, `[auth.google]: expose_tokens belongs in [auth]`},
		{"provider redirect_uri on another host", sharedOnly + namedProvider + `redirect_uri = "https://other.example.com/oauth2callback"`, `[auth.google]: redirect_uri "https://other.example.com/oauth2callback" must be on the same scheme and host as [auth]'s redirect_uri`},
		{"provider redirect_uri relative", sharedOnly + namedProvider + `redirect_uri = "/cb"`, `[auth.google]: redirect_uri "/cb" must be an absolute URL`},
		{"section in provider", sharedOnly + namedProvider + "[auth.google.extra]\nx = 1\n", `[auth.google]: extra is a section inside a provider`},
		{"bad TOML keeps the secret", sharedOnly + "[auth.google]\nclient_id = \"c\"\nclient_secret = " + testClientSecret + "\n", `secrets.toml: line 6 (client_secret): not valid TOML`},
		{"unterminated string", "[auth]\nredirect_uri = \"https://x\n", `secrets.toml: line 2 (redirect_uri): not valid TOML: strings cannot contain newlines`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := parseSecrets("secrets.toml", c.toml)
			if err == nil {
				t.Fatalf("no error, want %q", c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q\nwant it to contain %q", err, c.want)
			}
			for _, secret := range []string{testClientSecret, testCookieSecret} {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("the error shows a secret: %q", err)
				}
			}
		})
	}
}

func TestSecretsUnnamedProvider(t *testing.T) {
	s, err := parseSecrets("secrets.toml", validAuth+`expose_tokens = ["id", "access"]`+"\n"+`cookie_secret_previous = "older-secret-0123456789"`)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.providers) != 1 || s.providers[0].name != "default" || s.providers[0].displayName != "default" {
		t.Fatalf("providers: %+v", s.providers)
	}
	p := s.providers[0]
	if p.clientID != "client" || p.clientSecret != testClientSecret || p.scope != "openid profile email" {
		t.Fatalf("provider settings: %+v", p)
	}
	if len(p.authParams) != 0 || p.defaultPrompt != "select_account" {
		t.Fatalf("auth params %v and default prompt %q, want none and Streamlit's default prompt select_account (sent where the provider takes it)", p.authParams, p.defaultPrompt)
	}
	if !s.exposeID || !s.exposeAccess {
		t.Fatalf("expose_tokens not read: %+v", s)
	}
	if want := []string{testCookieSecret, "older-secret-0123456789"}; !reflect.DeepEqual(s.cookieSecrets, want) {
		t.Fatalf("cookie secrets %v", s.cookieSecrets)
	}
}

func TestSecretsNamedProviders(t *testing.T) {
	text := sharedOnly + `expose_tokens = "access"
[auth.okta]
client_id = "okta-client"
client_secret = "s"
server_metadata_url = "https://example.okta.com/.well-known/openid-configuration"
display_name = "Okta (staff)"
client_kwargs = { prompt = "login", login_hint = "a@example.com", max_age = 3600, hd = "example.com", scope = "openid  email groups", token_endpoint_auth_method = "client_secret_post", code_challenge_method = "S256" }
[auth.my_idp]
redirect_uri = "https://app.example.com/oauth2callback/idp"
client_id = "c"
client_secret = "s"
server_metadata_url = "https://idp.example.com/realms/x/.well-known/openid-configuration"
client_kwargs = { prompt = "" }
`
	s, err := parseSecrets("secrets.toml", text)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.providers) != 2 || s.providers[0].name != "my_idp" || s.providers[1].name != "okta" {
		t.Fatalf("providers not sorted by name or missing: %+v", s.providers)
	}
	idp, okta := s.providers[0], s.providers[1]
	if idp.redirectURI != "https://app.example.com/oauth2callback/idp" || okta.redirectURI != "https://app.example.com/oauth2callback" {
		t.Fatalf("redirect URIs: my_idp %q, okta %q", idp.redirectURI, okta.redirectURI)
	}
	if len(idp.authParams) != 0 {
		t.Fatalf("an empty prompt must remove it: %v", idp.authParams)
	}
	want := [][2]string{{"hd", "example.com"}, {"login_hint", "a@example.com"}, {"max_age", "3600"}, {"prompt", "login"}}
	if !reflect.DeepEqual(okta.authParams, want) {
		t.Fatalf("okta auth params %v, want %v", okta.authParams, want)
	}
	if okta.scope != "openid email groups" || okta.tokenAuthMethod != "client_secret_post" || okta.displayName != "Okta (staff)" {
		t.Fatalf("okta settings: %+v", okta)
	}
	if s.exposeID || !s.exposeAccess {
		t.Fatalf("expose_tokens = \"access\" read as id=%v access=%v", s.exposeID, s.exposeAccess)
	}
}

func TestSecretsPortPlaceholderAndWarnings(t *testing.T) {
	text := strings.Replace(validAuth, "https://app.example.com/oauth2callback", "http://localhost:{port}/oauth2callback", 1) + "colour = \"blue\"\n"
	s, err := parseSecrets("secrets.toml", text)
	if err != nil {
		t.Fatal(err)
	}
	if s.redirectURI != "http://localhost:{port}/oauth2callback" {
		t.Fatalf("redirect_uri %q", s.redirectURI)
	}
	if len(s.warnings) != 1 || !strings.Contains(s.warnings[0], "secrets.toml: [auth]: colour is not a key stauth knows") {
		t.Fatalf("warnings %q", s.warnings)
	}
}

// TestSecretsPlainHTTPWarnings: plain http is for this machine; elsewhere
// it works, with a warning that names the file, section and key.
func TestSecretsPlainHTTPWarnings(t *testing.T) {
	for _, c := range []struct {
		name, from, to, want string
	}{
		{"redirect_uri on a network host", "https://app.example.com", "http://app.example.com", `secrets.toml: [auth]: redirect_uri "http://app.example.com/oauth2callback" is plain http on a host other than this machine`},
		{"metadata on a network host", "https://accounts.example.com", "http://keycloak:8080", `secrets.toml: [auth]: server_metadata_url "http://keycloak:8080/.well-known/openid-configuration" is plain http on a host other than this machine: anyone on the network between Caddy and the provider could swap its signing keys`},
		{"redirect_uri on localhost", "https://app.example.com", "http://localhost:8501", ""},
		{"redirect_uri on 127.0.0.1", "https://app.example.com", "http://127.0.0.1:8501", ""},
		{"metadata on ::1", "https://accounts.example.com", "http://[::1]:5556", ""},
		{"metadata on a .localhost name", "https://accounts.example.com", "http://dex.localhost", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := parseSecrets("secrets.toml", strings.Replace(validAuth, c.from, c.to, 1))
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case c.want == "" && len(s.warnings) != 0:
				t.Fatalf("warnings %q, want none", s.warnings)
			case c.want != "" && (len(s.warnings) != 1 || !strings.Contains(s.warnings[0], c.want)):
				t.Fatalf("warnings %q, want one containing %q", s.warnings, c.want)
			}
		})
	}
}

func TestLoadSecretsFileErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := loadSecrets(filepath.Join(dir, "missing.toml")); err == nil || !strings.Contains(err.Error(), "missing.toml: cannot read the secrets file") {
		t.Fatalf("missing file: %v", err)
	}
	if _, err := loadSecrets("relative/missing.toml"); err == nil || !strings.Contains(err.Error(), "a relative path is read from Caddy's working directory") {
		t.Fatalf("missing relative file: %v", err)
	}
	if os.Getuid() != 0 { // root reads anything
		path := filepath.Join(dir, "locked.toml")
		if err := os.WriteFile(path, []byte(validAuth), 0o000); err != nil {
			t.Fatal(err)
		}
		if _, err := loadSecrets(path); err == nil || !strings.Contains(err.Error(), "let the user running Caddy read it") {
			t.Fatalf("unreadable file: %v", err)
		}
	}
}
