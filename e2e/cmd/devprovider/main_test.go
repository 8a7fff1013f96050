package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	_ "github.com/stauth/caddy-stauth"
	"github.com/stauth/caddy-stauth/e2e/cmd/internal/proctest"
	"github.com/stauth/caddy-stauth/e2e/devop"
	"github.com/stauth/caddy-stauth/internal/testcaddy"
)

// TestMain runs main in the children the tests start, the tests otherwise.
func TestMain(m *testing.M) { proctest.Main(m, "stauth-devprovider-test", main) }

// signInLine is the banner's line with the demo user's credentials.
var signInLine = regexp.MustCompile(`(?m)^  Sign in    username "([^"]*)", password "([^"]*)"$`)

// keyLine is a line of the printed [auth] section: key = "value", perhaps
// with a comment; Caddy, loading the section, shows it is TOML stauth takes.
var keyLine = regexp.MustCompile(`(?m)^([a-z_]+) = "([^"]*)"`)

// TestPastedSecretsLogIn runs the command as a user does, with the redirect
// URIs given in each of the ways it takes, pastes the [auth] section it
// prints into a secrets.toml, and logs in with the credentials it prints
// through a real Caddy with stauth; signing out comes back to the site. A
// site whose redirect URI was not given is refused by the provider. The
// command then stops cleanly on SIGINT or SIGTERM: exit status 0.
func TestPastedSecretsLogIn(t *testing.T) {
	tests := []struct {
		name string
		// args and env (REDIRECT_URI) give the redirect URIs; {site} stands
		// for the site's, {other} for another site's.
		args    []string
		env     string
		refused bool // the site's redirect URI is not among them
		stop    syscall.Signal
	}{
		{name: "REDIRECT_URI", env: "{site}", stop: syscall.SIGINT},
		{name: "REDIRECT_URI with two, comma-separated", env: "{site},{other}", stop: syscall.SIGTERM},
		{name: "REDIRECT_URI with two, space-separated", env: "{site} {other}", stop: syscall.SIGINT},
		{name: "arguments, as make passes a space-separated REDIRECT_URI", args: []string{"{site}", "{other}"}, env: "http://ignored.example/oauth2callback", stop: syscall.SIGINT},
		{name: "not registered", env: "{other}", refused: true, stop: syscall.SIGINT},
	}
	secrets := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			port := testcaddy.FreePort(t)
			siteURL := fmt.Sprintf("http://localhost:%d", port)
			siteURI := siteURL + "/oauth2callback"
			otherURI := fmt.Sprintf("http://localhost:%d/oauth2callback", testcaddy.FreePort(t))
			expand := strings.NewReplacer("{site}", siteURI, "{other}", otherURI).Replace
			args := []string{"-port", strconv.Itoa(testcaddy.FreePort(t))}
			for _, a := range tt.args {
				args = append(args, expand(a))
			}
			registered := splitURIs([]string{expand(tt.env)})
			if len(tt.args) > 0 {
				registered = splitURIs(args[2:])
			}

			cmd := proctest.Start(t, args, "REDIRECT_URI="+expand(tt.env))
			out := cmd.WaitForLine(t, "Press Ctrl-C to stop.")
			section := proctest.Section(out, "[auth]")
			a := map[string]string{}
			for _, kv := range keyLine.FindAllStringSubmatch(section, -1) {
				a[kv[1]] = kv[2]
			}
			if a["redirect_uri"] != registered[0] || !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(a["cookie_secret"]) || secrets[a["cookie_secret"]] || a["client_id"] == "" || a["client_secret"] == "" || !strings.HasSuffix(a["server_metadata_url"], "/.well-known/openid-configuration") {
				t.Fatalf("the printed [auth] section lacks the first redirect URI %s, a fresh 32-byte hex cookie_secret, the client or the metadata URL:\n%s", registered[0], out)
			}
			secrets[a["cookie_secret"]] = true
			for _, uri := range registered {
				if !strings.Contains(out, "  "+uri+"\n") {
					t.Errorf("the banner does not list the redirect URI %s:\n%s", uri, out)
				}
			}
			credentials := signInLine.FindStringSubmatch(out)
			if credentials == nil {
				t.Fatalf("the banner gives no credentials:\n%s", out)
			}

			// The section, pasted as printed; the refused site keeps its own
			// redirect_uri, which the command was not given.
			pasted := section
			if tt.refused {
				pasted = strings.Replace(section, fmt.Sprintf("redirect_uri = %q", registered[0]), fmt.Sprintf("redirect_uri = %q", siteURI), 1)
			}
			secretsPath := filepath.Join(t.TempDir(), "secrets.toml")
			if err := os.WriteFile(secretsPath, []byte(pasted), 0o600); err != nil {
				t.Fatal(err)
			}
			testcaddy.Load(t, testcaddy.Globals(t.TempDir(), port, testcaddy.FreePort(t))+fmt.Sprintf(`
http://localhost:%d {
	route {
		stauth %s
		respond "id={http.auth.user.id} email={http.auth.user.email} name={http.auth.user.name}"
	}
}
`, port, secretsPath))

			jar, _ := cookiejar.New(nil)
			client := &http.Client{Jar: jar}
			if tt.refused {
				assertRefused(t, client, siteURL, a["server_metadata_url"])
			} else {
				assertLogInAndOut(t, client, siteURL, credentials[1], credentials[2])
			}

			if code := cmd.Stop(t, tt.stop); code != 0 {
				t.Fatalf("after %v the command exited with %d, want 0:\n%s", tt.stop, code, cmd.Output())
			}
			if !strings.HasSuffix(cmd.Output(), "\nstopping…\n") {
				t.Errorf("the command's output does not end with stopping…:\n%s", cmd.Output())
			}
		})
	}
}

// assertLogInAndOut logs in at the site with the printed credentials and
// signs out: the provider sends the browser back to the site.
func assertLogInAndOut(t *testing.T, client *http.Client, siteURL, username, password string) {
	t.Helper()
	resp, body, err := devop.LogIn(client, siteURL+"/page", username, password)
	if err != nil {
		t.Fatal(err)
	}
	want := "id=demo-user-1 email=demo@example.com name=Dana Demo"
	if resp.StatusCode != http.StatusOK || resp.Request.URL.String() != siteURL+"/page" || string(body) != want {
		t.Fatalf("after the login: %s at %s saying\n%s\nwant 200 at %s/page saying\n%s", resp.Status, resp.Request.URL, body, siteURL, want)
	}

	endURL, err := devop.LogOut(client, siteURL)
	if err != nil {
		t.Fatal(err)
	}
	end := endURL.String()
	if !strings.Contains(end, "post_logout_redirect_uri="+url.QueryEscape(siteURL+"/oauth2callback")) {
		t.Fatalf("logout sends the browser to %q, want the provider's end_session_endpoint", end)
	}
	if err := devop.ReturnFromLogout(client, endURL, siteURL); err != nil {
		t.Fatal(err)
	}
}

// assertRefused starts a login at the site: the provider answers the
// authorization request with an error about the redirect URI and shows no
// login page.
func assertRefused(t *testing.T, client *http.Client, siteURL, metadataURL string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, siteURL+"/auth/login", nil)
	req.Header.Set("Accept", "text/html")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	provider, _ := url.Parse(metadataURL)
	if resp.Request.URL.Host != provider.Host || resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "redirect_uri is missing in the client configuration") {
		t.Fatalf("a login with a redirect URI the command was not given ended at %s with %s:\n%s\nwant the provider's 400 naming redirect_uri", resp.Request.URL, resp.Status, body)
	}
}

// TestRunErrors shows each mistake a user can make is refused with a
// message that says what to do.
func TestRunErrors(t *testing.T) {
	taken, err := net.Listen("tcp", "localhost:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	takenPort := strconv.Itoa(taken.Addr().(*net.TCPAddr).Port)
	free := strconv.Itoa(testcaddy.FreePort(t))
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no redirect URI", []string{"-port", free}, nil, "give your site's redirect_uri, for example: make dev-provider REDIRECT_URI=http://localhost:9080/oauth2callback"},
		{"only separators", []string{"-port", free}, map[string]string{"REDIRECT_URI": " , "}, "give your site's redirect_uri"},
		{"not absolute", []string{"-port", free, "localhost:9080/oauth2callback"}, nil, `redirect URI "localhost:9080/oauth2callback" is not an absolute http or https URL`},
		{"not http", []string{"-port", free, "ftp://localhost/oauth2callback"}, nil, "is not an absolute http or https URL"},
		{"a fragment", []string{"-port", free, "http://localhost:9080/oauth2callback#x"}, nil, "has a fragment"},
		{"{port}", []string{"-port", free}, map[string]string{"REDIRECT_URI": "http://localhost:{port}/oauth2callback"}, "holds {port}: give it with the port the site listens on"},
		{"a bad DEV_PROVIDER_PORT", []string{"http://localhost:9080/oauth2callback"}, map[string]string{"DEV_PROVIDER_PORT": "99999"}, `DEV_PROVIDER_PORT="99999" is not a port number`},
		{"a taken port", []string{"-port", takenPort, "http://localhost:9080/oauth2callback"}, nil, "(choose another port with -port or DEV_PROVIDER_PORT)"},
		{"a taken DEV_PROVIDER_PORT", []string{"http://localhost:9080/oauth2callback"}, map[string]string{"DEV_PROVIDER_PORT": takenPort}, "listening on localhost:" + takenPort},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A cancelled context: were the arguments accepted, run would
			// return at once, with no error.
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			var out strings.Builder
			err := run(ctx, tt.args, func(k string) string { return tt.env[k] }, &out, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("run %v with %v: %v, want an error saying %q", tt.args, tt.env, err, tt.want)
			}
			if out.Len() != 0 {
				t.Fatalf("run printed a banner for a refused start:\n%s", out.String())
			}
		})
	}
}
