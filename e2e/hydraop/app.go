package hydraop

import (
	"fmt"
	"net/http"
	"net/url"
)

// appHandler is the login, consent and logout app Hydra redirects to: each
// page accepts its challenge at once through the admin API and redirects
// the browser where Hydra says.
func (p *Provider) appHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", p.challenge("login", p.acceptLogin))
	mux.HandleFunc("GET /consent", p.challenge("consent", p.acceptConsent))
	mux.HandleFunc("GET /logout", p.challenge("logout", p.acceptLogout))
	mux.HandleFunc("GET /logged-out", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "You are signed out of Hydra.")
	})
	return mux
}

// challenge serves one page of the app: it reads the kind_challenge query
// parameter, accepts it with accept and redirects to Hydra's answer.
func (p *Provider) challenge(kind string, accept func(challenge string) (redirectTo string, err error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		challenge := r.URL.Query().Get(kind + "_challenge")
		if challenge == "" {
			http.Error(w, "missing "+kind+"_challenge", http.StatusBadRequest)
			return
		}
		to, err := accept(challenge)
		if err != nil {
			http.Error(w, "hydraop: accepting the "+kind+" challenge: "+err.Error(), http.StatusBadGateway)
			return
		}
		http.Redirect(w, r, to, http.StatusFound)
	}
}

// redirect is the admin API's answer to an accepted challenge.
type redirect struct {
	RedirectTo string `json:"redirect_to"`
}

// acceptLogin signs the user in, remembered: Hydra sends RP-initiated
// logouts to the logout app only when it holds a login session. A login
// Hydra marks skip (it remembers the user) is counted as remembered.
func (p *Provider) acceptLogin(challenge string) (string, error) {
	q := "?login_challenge=" + url.QueryEscape(challenge)
	var req struct {
		Skip bool `json:"skip"`
	}
	if err := p.admin(http.MethodGet, "/admin/oauth2/auth/requests/login"+q, nil, &req); err != nil {
		return "", err
	}
	var r redirect
	err := p.admin(http.MethodPut, "/admin/oauth2/auth/requests/login/accept"+q, map[string]any{
		"subject":  p.User.Subject,
		"remember": true,
	}, &r)
	if err != nil {
		return "", err
	}
	p.logins.Add(1)
	if req.Skip {
		p.remembered.Add(1)
	}
	return r.RedirectTo, nil
}

// acceptConsent grants every requested scope and audience, and puts the
// user's email, name and groups into the ID token.
func (p *Provider) acceptConsent(challenge string) (string, error) {
	q := "?consent_challenge=" + url.QueryEscape(challenge)
	var req struct {
		RequestedScope    []string `json:"requested_scope"`
		RequestedAudience []string `json:"requested_access_token_audience"`
	}
	if err := p.admin(http.MethodGet, "/admin/oauth2/auth/requests/consent"+q, nil, &req); err != nil {
		return "", err
	}
	var r redirect
	err := p.admin(http.MethodPut, "/admin/oauth2/auth/requests/consent/accept"+q, map[string]any{
		"grant_scope":                 req.RequestedScope,
		"grant_access_token_audience": req.RequestedAudience,
		"session": map[string]any{
			"id_token": map[string]any{
				"email":          p.User.Email,
				"email_verified": true,
				"name":           p.User.Name,
				"groups":         p.User.Groups,
			},
		},
	}, &r)
	if err == nil {
		p.consents.Add(1)
	}
	return r.RedirectTo, err
}

// acceptLogout ends the user's Hydra session.
func (p *Provider) acceptLogout(challenge string) (string, error) {
	var r redirect
	err := p.admin(http.MethodPut, "/admin/oauth2/auth/requests/logout/accept?logout_challenge="+url.QueryEscape(challenge), nil, &r)
	if err == nil {
		p.logouts.Add(1)
	}
	return r.RedirectTo, err
}
