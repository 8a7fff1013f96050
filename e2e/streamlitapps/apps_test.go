package streamlitapps

import (
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// testSecret is the apps' cookie_secret in these tests.
const testSecret = "apps-test-cookie-secret-0123456789"

// pythonMint signs the text value for the cookie name with the library the
// kind app reads it with, in Python itself: these tests prove the apps, not
// stauth's minting.
func pythonMint(t *testing.T, kind, secret, name, value string) string {
	t.Helper()
	script := map[string]string{
		Tornado:   `import sys, tornado.web; print(tornado.web.create_signed_value(sys.argv[1], sys.argv[2], sys.argv[3]).decode())`,
		Starlette: `import sys, itsdangerous; print(itsdangerous.URLSafeTimedSerializer(sys.argv[1], salt=sys.argv[2]).dumps(sys.argv[3]))`,
	}[kind]
	out, err := exec.Command(Python, "-c", script, secret, name, value).Output()
	if err != nil {
		t.Fatalf("minting with %s: %v", kind, err)
	}
	return strings.TrimSpace(string(out))
}

func TestApps(t *testing.T) {
	userJSON, err := json.Marshal(map[string]any{"email": "jane@example.com", "is_logged_in": true, "origin": "http://127.0.0.1", "provider": "default", "groups": []any{"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	user, tokens := string(userJSON), `{"id_token": "header.payload.sig"}`
	for _, kind := range []string{Tornado, Starlette} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			app := Start(t, kind, testSecret, "/base")
			good := "theme=dark; _streamlit_user=" + pythonMint(t, kind, testSecret, "_streamlit_user", user) +
				"; _streamlit_user_tokens=" + pythonMint(t, kind, testSecret, "_streamlit_user_tokens", tokens)
			wrongSecret := "_streamlit_user=" + pythonMint(t, kind, "another-secret-0123456789abcdef", "_streamlit_user", user)
			wrongName := "_streamlit_user=" + pythonMint(t, kind, testSecret, "_streamlit_user_tokens", user)
			chunked := "_streamlit_user=" + pythonMint(t, kind, testSecret, "_streamlit_user", "chunks-2") +
				"; _streamlit_user_1=" + pythonMint(t, kind, testSecret, "_streamlit_user_1", `{"email": "jane@exa`) +
				"; _streamlit_user_2=" + pythonMint(t, kind, testSecret, "_streamlit_user_2", `mple.com", "is_logged_in": true}`)
			cases := []struct {
				name, cookie string
				wantEmail    string // "" for no user
				wantTokens   bool
			}{
				{"user and tokens", good, "jane@example.com", true},
				{"no cookie", "", "", false},
				{"other secret", wrongSecret, "", false},
				{"signed for another name", wrongName, "", false},
				{"chunked", chunked, "jane@example.com", false},
			}
			for _, c := range cases {
				header := http.Header{"Origin": {"http://127.0.0.1"}}
				if c.cookie != "" {
					header.Set("Cookie", c.cookie)
				}
				check := func(via string, id Identity, resp *http.Response, err error) {
					t.Helper()
					if err != nil {
						t.Fatalf("%s %s: %v", c.name, via, err)
					}
					if email, _ := id.User["email"].(string); email != c.wantEmail {
						t.Errorf("%s %s: user %v, want email %q", c.name, via, id.User, c.wantEmail)
					}
					if (id.Tokens != nil) != c.wantTokens || (c.wantTokens && id.Tokens["id_token"] != "header.payload.sig") {
						t.Errorf("%s %s: tokens %v, want present=%v", c.name, via, id.Tokens, c.wantTokens)
					}
					if id.Origin == nil || *id.Origin != "http://127.0.0.1" {
						t.Errorf("%s %s: origin %v", c.name, via, id.Origin)
					}
				}
				id, resp, err := WhoAmI(nil, app.URL, header)
				if err == nil && resp.StatusCode != http.StatusOK {
					t.Fatalf("%s whoami: %s", c.name, resp.Status)
				}
				check("whoami", id, resp, err)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				id, resp, err = Stream(ctx, app.URL, header, nil)
				cancel()
				if err == nil && resp.StatusCode != http.StatusSwitchingProtocols {
					t.Fatalf("%s stream: %s", c.name, resp.Status)
				}
				check("stream", id, resp, err)
				if c.name == "user and tokens" {
					t.Logf("%s app read over the WebSocket: user %v, tokens %v", kind, id.User, id.Tokens)
				}
			}
			// Outside the base path there is nothing.
			resp, err := http.Get(strings.TrimSuffix(app.URL, app.Base) + "/_stcore/health")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("health outside the base path: %s, want 404", resp.Status)
			}
		})
	}
}
