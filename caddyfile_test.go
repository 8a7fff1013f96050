package stauth

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/stauth/caddy-stauth/internal/testcaddy"
)

// writeTestSecrets writes a secrets file into a temp dir and returns its path.
func writeTestSecrets(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "secrets.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// adaptSite adapts a site whose block is body and returns its first route.
func adaptSite(t *testing.T, body string) (map[string]any, error) {
	t.Helper()
	cfg, err := testcaddy.Adapt(":8080 {\n" + body + "\n}\n")
	if err != nil {
		return nil, err
	}
	if strings.Contains(string(cfg), testClientSecret) || strings.Contains(string(cfg), testCookieSecret) {
		t.Fatalf("the adapted config shows a secret: %s", cfg)
	}
	var doc struct {
		Apps struct {
			HTTP struct {
				Servers map[string]struct {
					Routes []map[string]any `json:"routes"`
				} `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(cfg, &doc); err != nil {
		t.Fatal(err)
	}
	route := doc.Apps.HTTP.Servers["srv0"].Routes[0]
	for _, h := range route["handle"].([]any) {
		if h, ok := h.(map[string]any); ok && h["handler"] == "stauth" {
			if digest, _ := h["secrets_digest"].(string); len(digest) != 64 {
				t.Fatalf("the stauth handler has no secrets_digest: %v", h)
			}
			delete(h, "secrets_digest") // tested in TestReloadAppliesSecretsEdits
		}
	}
	return route, nil
}

func TestCaddyfileAdapts(t *testing.T) {
	path := writeTestSecrets(t, validAuth)
	twoCallbacks := writeTestSecrets(t, sharedOnly+namedProvider+strings.Replace(namedProvider, "google]", "okta]\nredirect_uri = \"https://app.example.com/oauth2callback/okta\"", 1))
	cases := []struct {
		name, body, handler, match string
	}{
		{"absolute path", "stauth " + path,
			`{"handler":"stauth","secrets_file":"` + path + `"}`, ``},
		{"wildcard matcher", "stauth * " + path,
			`{"handler":"stauth","secrets_file":"` + path + `"}`, ``},
		{"named matcher adds the endpoints", "@admin path /admin/*\nstauth @admin " + path,
			`{"handler":"stauth","secrets_file":"` + path + `"}`,
			`[{"path":["/admin/*"]},{"path":["/auth/login","/oauth2callback","/auth/logout","/auth/user","/auth/backchannel-logout"]}]`},
		{"a callback per provider", "@admin path /admin/*\nstauth @admin " + twoCallbacks,
			`{"handler":"stauth","secrets_file":"` + twoCallbacks + `"}`,
			`[{"path":["/admin/*"]},{"path":["/auth/login","/oauth2callback","/oauth2callback/okta","/auth/logout","/auth/user","/auth/backchannel-logout"]}]`},
		{"every option", "@app path /app/*\nstauth @app " + path + ` {
	login_path /in
	logout_path /out
	user_path /me
	anonymous
	allow_emails jane@example.com *@example.org
	allow_emails john@example.com
	allow_claim groups admins ops
	allow_claim hd example.com
	session_ttl 12h
	idle_timeout 30m
	backchannel_logout_path /bcl
}`,
			`{"allow_claims":[{"claim":"groups","values":["admins","ops"]},{"claim":"hd","values":["example.com"]}],"allow_emails":["jane@example.com","*@example.org","john@example.com"],"anonymous":true,"backchannel_logout_path":"/bcl","handler":"stauth","idle_timeout":1800000000000,"login_path":"/in","logout_path":"/out","secrets_file":"` + path + `","session_ttl":43200000000000,"user_path":"/me"}`,
			`[{"path":["/app/*"]},{"path":["/in","/oauth2callback","/out","/me","/bcl"]}]`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			route, err := adaptSite(t, c.body)
			if err != nil {
				t.Fatal(err)
			}
			handlers := route["handle"].([]any)
			handler, _ := json.Marshal(handlers[0])
			if string(handler) != c.handler {
				t.Fatalf("handler JSON\n%s\nwant\n%s", handler, c.handler)
			}
			match := ""
			if m, ok := route["match"]; ok {
				raw, _ := json.Marshal(m)
				match = string(raw)
			}
			if match != c.match {
				t.Fatalf("route matchers\n%s\nwant\n%s", match, c.match)
			}
		})
	}
}

func TestCaddyfileErrors(t *testing.T) {
	good := writeTestSecrets(t, validAuth)
	bad := writeTestSecrets(t, strings.Replace(validAuth, `client_secret = "`+testClientSecret+`"`, "", 1))
	cases := []struct {
		name, body, want string
	}{
		{"no path", "stauth", "stauth: the path of secrets.toml is missing"},
		{"only a matcher", "stauth *", "stauth: the path of secrets.toml is missing"},
		{"path matcher", "stauth /admin/* " + good, `stauth: "/admin/*" looks like a path matcher`},
		{"two paths", "stauth a.toml b.toml", `stauth: unexpected argument "b.toml"`},
		{"a matcher and two paths", "stauth * a.toml b.toml", `stauth: unexpected argument "b.toml": stauth takes a matcher and one path`},
		{"unknown matcher", "stauth @nope " + good, "unrecognized matcher name: @nope"},
		{"unknown option", "stauth " + good + " {\n\tlogin /x\n}", `stauth: unknown option "login"`},
		{"option without value", "stauth " + good + " {\n\tlogin_path\n}", "stauth: login_path takes one value"},
		{"anonymous with value", "stauth " + good + " {\n\tanonymous yes\n}", "stauth: anonymous takes no value"},
		{"allow_claim without value", "stauth " + good + " {\n\tallow_claim groups\n}", "stauth: allow_claim needs a claim and at least one value"},
		{"allow_emails empty", "stauth " + good + " {\n\tallow_emails\n}", "stauth: allow_emails needs at least one email"},
		{"an option twice", "stauth " + good + " {\n\tlogin_path /a\n\tlogin_path /b\n}", "stauth: login_path is given twice; keep one"},
		{"bad duration", "stauth " + good + " {\n\tsession_ttl forever\n}", `stauth: session_ttl "forever" is not a duration`},
		{"bad secrets", "stauth " + bad, "[auth]: client_secret is missing"},
		{"guessable cookie_secret (review item 6)", "stauth " + writeTestSecrets(t, strings.Replace(validAuth, testCookieSecret, "CompanyName2024!", 1)), "[auth]: cookie_secret is easy to guess"},
		{"missing secrets", "stauth /nonexistent/secrets.toml", "/nonexistent/secrets.toml: cannot read the secrets file"},
		{"relative login path", "stauth " + good + " {\n\tlogin_path login\n}", `stauth: login_path "login" must be a path starting with /`},
		{"short session", "stauth " + good + " {\n\tsession_ttl 30s\n}", "stauth: session_ttl 30s is too short; use at least 1m"},
		{"bad allowed email", "stauth " + good + " {\n\tallow_emails alice\n}", `stauth: allow_emails: "alice" is neither an email address nor *@domain`},
		{"callback is the login path", "stauth " + good + " {\n\tlogin_path /oauth2callback\n}", "redirect_uri's path /oauth2callback is also stauth's login_path"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := adaptSite(t, c.body)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v\nwant it to contain %q", err, c.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name string
		s    Stauth
		want string
	}{
		{"relative login path", Stauth{LoginPath: "login"}, `login_path "login" must be a path starting with /`},
		{"shared path", Stauth{UserPath: DefaultLogoutPath}, "are both /auth/logout"},
		{"short session", Stauth{SessionTTL: caddy.Duration(time.Second)}, "session_ttl 1s is too short"},
		{"empty bearer audience", Stauth{Bearer: true, BearerAudiences: []string{""}}, "bearer_audiences holds an empty audience"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.s.setDefaults()
			if err := c.s.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Validate: %v, want %q", err, c.want)
			}
		})
	}
	ok := Stauth{}
	ok.setDefaults()
	if err := ok.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
}

// TestCaddyfileExample keeps Caddyfile.example true: it adapts, formatted,
// once its secrets paths point at a real file.
func TestCaddyfileExample(t *testing.T) {
	example, err := os.ReadFile("Caddyfile.example")
	if err != nil {
		t.Fatal(err)
	}
	if formatted := caddyfile.Format(example); string(formatted) != string(example) {
		t.Fatalf("Caddyfile.example is not formatted as caddy fmt would:\n%s", formatted)
	}
	path := writeTestSecrets(t, validAuth)
	text := strings.NewReplacer("/etc/caddy/secrets.toml", path, ".streamlit/secrets.toml", path).Replace(string(example))
	cfg, err := testcaddy.Adapt(text)
	if err != nil {
		t.Fatalf("Caddyfile.example does not adapt: %v", err)
	}
	// Seven directives; the two with a matcher add a passive stauth for
	// the requests outside it.
	if n, passive := strings.Count(string(cfg), `"handler":"stauth"`), strings.Count(string(cfg), `"passive":true`); n != 9 || passive != 2 {
		t.Fatalf("Caddyfile.example has %d stauth handlers (%d passive) after adapting, want 9 (2 passive)", n, passive)
	}
}

// TestOptionNames: every name the unknown-option message lists is an
// option, and every option is listed.
func TestOptionNames(t *testing.T) {
	for _, name := range optionNames {
		s := new(Stauth)
		err := s.UnmarshalCaddyfile(caddyfile.NewTestDispenser("stauth secrets.toml {\n" + name + "\n}"))
		if err != nil && strings.Contains(err.Error(), "unknown option") {
			t.Errorf("%s is listed but not parsed: %v", name, err)
		}
	}
	src, err := os.ReadFile("caddyfile.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`(?m)^\tcase "([a-z_]+)":$`).FindAllStringSubmatch(string(src), -1) {
		if !slices.Contains(optionNames, m[1]) {
			t.Errorf("option %s is parsed but not listed in optionNames", m[1])
		}
	}
}

// TestCaddyfileErrorsKeepTheLine checks that an error found after the
// directive is parsed (in secrets.toml, or in the options' combination)
// still names the Caddyfile and the directive's line, not ":0".
func TestCaddyfileErrorsKeepTheLine(t *testing.T) {
	bad := writeTestSecrets(t, strings.Replace(validAuth, "client_secret =", "client_secert =", 1))
	good := writeTestSecrets(t, validAuth)
	cases := []struct{ name, text, want string }{
		{"secrets.toml", ":8080 {\n\trespond ok\n\tstauth " + bad + "\n}\n", "at Caddyfile:3"},
		{"options", ":8080 {\n\n\tstauth " + good + " {\n\t\tlogin_path /x\n\t\tuser_path /x\n\t}\n}\n", "at Caddyfile:3"},
		{"with a matcher", ":8080 {\n\t@a path /a/*\n\tstauth @a " + bad + "\n}\n", "at Caddyfile:3"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := testcaddy.Adapt(c.text)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v\nwant it to contain %q", err, c.want)
			}
		})
	}
}

// TestCaddyfileRedirectURI checks that the subdirective reaches the JSON,
// {port} as stauth's, and that a matcher covers its callback path.
func TestCaddyfileRedirectURI(t *testing.T) {
	path := writeTestSecrets(t, validAuth)
	route, err := adaptSite(t, "@app path /app/*\nstauth @app "+path+" {\n\tredirect_uri http://localhost:{port}/site/cb\n}")
	if err != nil {
		t.Fatal(err)
	}
	handler, _ := json.Marshal(route["handle"].([]any)[0])
	match, _ := json.Marshal(route["match"])
	if !strings.Contains(string(handler), `"redirect_uri":"http://localhost:{port}/site/cb"`) ||
		string(match) != `[{"path":["/app/*"]},{"path":["/auth/login","/site/cb","/auth/logout","/auth/user","/auth/backchannel-logout"]}]` {
		t.Fatalf("handler %s\nmatch %s", handler, match)
	}
}
