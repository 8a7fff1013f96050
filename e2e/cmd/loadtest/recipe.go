package main

// The README's recipe under load (issue 15): stauth in front of a
// reverse_proxy that passes the user's id, email, name and groups to the
// upstream as header_up lines, against the same reverse_proxy with four
// constant headers of the same values, with the same Cookie header. The
// session comes from a login at a scriptable provider (internal/hostileop)
// whose ID token has the shape of Microsoft Entra's, with -groups group
// object IDs: the placeholders read a real session with a list claim.

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"time"

	"github.com/stauth/caddy-stauth/internal/hostileop"
)

// recipeHeaders are the recipe's header_up lines: header and placeholder.
var recipeHeaders = [][2]string{
	{"X-Auth-User", "{http.auth.user.id}"},
	{"X-Auth-Email", "{http.auth.user.email}"},
	{"X-Auth-Name", "{http.auth.user.name}"},
	{"X-Auth-Groups", "{http.auth.user.groups}"},
}

// probeHeader makes the upstream answer the identity headers it received
// instead of the body, for checking the recipe before the load.
const probeHeader = "X-Loadtest-Probe"

// recipe is the provider, the user's groups and the sites of the recipe.
type recipe struct {
	op     *hostileop.Provider
	groups []string
	// plainURL proxies with constant headers; authURL with stauth's.
	plainURL, authURL string
}

// startRecipeProvider starts a provider whose ID tokens look like Entra's,
// with groups group object IDs.
func startRecipeProvider(redirectURI string, groups int) (*recipe, error) {
	r := &recipe{groups: make([]string, groups)}
	for i := range r.groups {
		r.groups[i] = guid()
	}
	tenant := guid()
	claims := map[string]any{
		"oid": guid(), "tid": tenant, "ver": "2.0", "preferred_username": hostileop.DefaultEmail,
		"aio": "AWQAm/8" + randomHex(60), "uti": randomHex(11), "rh": "0." + randomHex(27) + ".",
		"groups": r.groups,
	}
	op, err := hostileop.Start(hostileop.Config{
		RedirectURIs: []string{redirectURI},
		Behaviour: hostileop.Behaviour{Claims: func(c map[string]any) {
			for k, v := range claims {
				c[k] = v
			}
		}},
	})
	if err != nil {
		return nil, err
	}
	r.op = op
	return r, nil
}

// sites is the Caddyfile of the recipe: the upstream, the plain proxy with
// constant headers and the proxy behind stauth, on their ports.
func (r *recipe) sites(upstreamPort, plainPort, authPort int, secretsPath string) string {
	values := r.want()
	var constant, placeholders strings.Builder
	for i, h := range recipeHeaders {
		fmt.Fprintf(&constant, "\t\t\theader_up %s %q\n", h[0], values[i])
		fmt.Fprintf(&placeholders, "\t\t\theader_up %s %s\n", h[0], h[1])
	}
	var echo []string
	for _, h := range recipeHeaders {
		echo = append(echo, "{http.request.header."+h[0]+"}")
	}
	r.plainURL = fmt.Sprintf("http://localhost:%d/", plainPort)
	r.authURL = fmt.Sprintf("http://localhost:%d/", authPort)
	return fmt.Sprintf(`
http://localhost:%[1]d {
	@probe header %[2]s 1
	respond @probe %[3]q
	respond %[4]q
}

http://localhost:%[5]d {
	route {
		reverse_proxy localhost:%[1]d {
%[6]s		}
	}
}

http://localhost:%[7]d {
	route {
		stauth %[8]s
		reverse_proxy localhost:%[1]d {
%[9]s		}
	}
}
`, upstreamPort, probeHeader, strings.Join(echo, "|"), body, plainPort, constant.String(), authPort, secretsPath, placeholders.String())
}

// want is what the upstream must receive in the four headers.
func (r *recipe) want() []string {
	return []string{hostileop.DefaultSubject, hostileop.DefaultEmail, hostileop.DefaultName, strings.Join(r.groups, ",")}
}

// logIn logs in at the recipe's stauth (the provider redirects straight
// back) and returns the session's Cookie header and number of cookies.
func (r *recipe) logIn() (string, int, error) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return "", 0, err
	}
	client := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	resp, err := client.Get(r.authURL + "auth/login?rd=%2F")
	if err != nil {
		return "", 0, fmt.Errorf("recipe login: %w", err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(page) != body {
		return "", 0, fmt.Errorf("recipe login ended with %s: %q", resp.Status, page)
	}
	u, _ := resp.Request.URL.Parse(r.authURL)
	return sessionCookieHeader(jar, u)
}

// check makes sure both proxies pass the same four identity headers to the
// upstream, and that stauth's refuses a request without the session.
func (r *recipe) check(cookie string) error {
	want := strings.Join(r.want(), "|")
	for _, u := range []string{r.plainURL, r.authURL} {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		req.Header.Set("Cookie", cookie)
		req.Header.Set(probeHeader, "1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(got) != want {
			return fmt.Errorf("GET %s: %s, the upstream received %.120q, want %.120q", u, resp.Status, got, want)
		}
	}
	resp, err := http.Get(r.authURL)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		return fmt.Errorf("GET %s without the session: %s, want 401", r.authURL, resp.Status)
	}
	return nil
}

// guid is a random GUID, as Entra's object IDs.
func guid() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
