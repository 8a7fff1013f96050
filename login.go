package stauth

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"
)

// serveLogin starts a login: with the provider chosen, a redirect to it.
func (s *Stauth) serveLogin(w http.ResponseWriter, r *http.Request) error {
	if !allowMethods(w, r, http.MethodGet, http.MethodHead) {
		return nil
	}
	q := r.URL.Query()
	returnTo := s.returnTo(q.Get("rd"))
	if !q.Has("rd") {
		returnTo = s.siteRoot()
	}
	choice := q.Get("provider")
	if choice == "" && len(s.providerOrder) > 1 {
		return writePage(w, http.StatusOK, s.chooserPage(returnTo))
	}
	p, err := s.pickProvider(choice)
	if err != nil {
		s.logger.Info("login refused", zap.String("error", loggable(err)))
		return writePage(w, http.StatusBadRequest, s.unknownProviderPage(choice, returnTo))
	}
	return s.startLogin(w, r, p, returnTo)
}

// startLogin sends the browser to the provider with a new login
// transaction, which returns to returnTo.
func (s *Stauth) startLogin(w http.ResponseWriter, r *http.Request, p *provider, returnTo string) error {
	d, err := p.discover(r.Context())
	if err != nil {
		return s.unavailablePage(w, p, returnTo, err)
	}
	redirectURI, err := s.redirectURI(r, p)
	if err != nil {
		return err
	}
	if site, other := otherLoopbackHost(r, redirectURI); other && !s.sharesCookies(r.Host) {
		return s.otherHostPage(w, r, site, p.name, returnTo)
	}
	s.warnOnOtherHost(r, redirectURI)
	now := time.Now()
	tx := &loginTransaction{
		State: randomToken(), Nonce: randomToken(), Verifier: randomToken(),
		Provider: p.name, Binding: p.binding, Issuer: d.issuer, RedirectURI: redirectURI, ReturnTo: returnTo,
		DefaultPrompt: p.sendsDefaultPrompt(d), Created: now.Unix(),
	}
	s.cookies.writeLogin(w, r, tx, now)
	setAuthHeaders(w.Header())
	return redirect(w, p.authCodeURL(d, tx))
}

// unavailablePage answers a login for a provider whose discovery failed.
func (s *Stauth) unavailablePage(w http.ResponseWriter, p *provider, returnTo string, err error) error {
	why := p.displayName + " cannot be reached right now. Please try again in a moment."
	if s.misconfigured(p, err) {
		why = "Sign-in with " + p.displayName + " is not set up correctly. The site's administrator can find the reason in Caddy's log."
	} else {
		s.logger.Error("login unavailable: the provider is not reachable", zap.Error(err))
	}
	return writePage(w, http.StatusServiceUnavailable, page{
		Title:      "The sign-in service is not available",
		Paragraphs: []string{why},
		Links:      []link{{Href: s.loginURL(p.name, returnTo), Label: "Try again", Primary: true}},
	})
}

// pickProvider finds the provider a login asks for: by name, by Streamlit's
// login token, or the only one.
func (s *Stauth) pickProvider(choice string) (*provider, error) {
	if choice == "" {
		return s.providerOrder[0], nil
	}
	if p, ok := s.providers[choice]; ok {
		return p, nil
	}
	if !looksLikeLoginToken(choice) {
		return nil, errors.New("no provider is named " + choice)
	}
	name, err := providerFromLoginToken(choice, s.secrets.cookieSecrets, time.Now())
	if err != nil {
		return nil, errors.New("Streamlit login token refused: " + err.Error())
	}
	if p, ok := s.providers[name]; ok {
		return p, nil
	}
	return nil, errors.New("the Streamlit login token names provider " + name + ", which is not configured")
}

// looksLikeLoginToken tells whether a login's provider parameter has the
// shape of Streamlit's login token (a JWS: three dot-separated parts) rather
// than of a provider's name.
func looksLikeLoginToken(choice string) bool {
	return strings.Count(choice, ".") == 2
}

// chooserPage lists the providers to log in with.
func (s *Stauth) chooserPage(returnTo string) page {
	p := page{Title: "Sign in", Paragraphs: []string{"Choose how to sign in."}}
	for _, prov := range s.providerOrder {
		p.Choices = append(p.Choices, link{Href: s.loginURL(prov.name, returnTo), Label: "Continue with " + prov.displayName})
	}
	return p
}

// unknownProviderPage answers a login for a provider that is not configured
// or a Streamlit login link that is not valid.
func (s *Stauth) unknownProviderPage(choice, returnTo string) page {
	if looksLikeLoginToken(choice) {
		return page{
			Title:      "This sign-in link has expired",
			Paragraphs: []string{"Sign-in links from the app are valid for two minutes, and only on the site they were made for. Go back to the app and sign in again."},
			Links:      []link{{Href: "/", Label: "Back to the app", Primary: true}},
		}
	}
	p := s.chooserPage(returnTo)
	p.Title = "Unknown sign-in provider"
	p.Paragraphs = []string{"This site has no sign-in provider by that name. Choose one of these."}
	return p
}

// warnOnOtherHost logs when a login starts on a host other than
// redirect_uri's (and off cookie_domain): the browser will not bring the
// login cookie back there.
func (s *Stauth) warnOnOtherHost(r *http.Request, redirectURI string) {
	if u, err := url.Parse(redirectURI); err == nil && !strings.EqualFold(u.Host, r.Host) && !s.sharesCookies(r.Host) {
		s.logger.Warn("a login started on a host other than redirect_uri's, so the browser will not send the login cookie back; open the site at redirect_uri's host",
			zap.String("request_host", r.Host), zap.String("redirect_uri", redirectURI))
	}
}

// randomToken returns 256 bits of randomness as URL-safe text.
func randomToken() string {
	return base64.RawURLEncoding.EncodeToString(randomBytes(32))
}

// loginTTL is how long a login may take, from the login redirect to the callback.
const loginTTL = 10 * time.Minute

// maxPendingLogins is how many login transaction cookies a browser may hold;
// older ones are deleted when a new login starts.
const maxPendingLogins = 4

// loginTransaction is the state of one login between the redirect to the
// provider and the callback, sealed in its own cookie.
type loginTransaction struct {
	State       string `json:"s"`
	Nonce       string `json:"n"`
	Verifier    string `json:"v"`
	Provider    string `json:"p"`
	Binding     string `json:"b"`
	Issuer      string `json:"i"`
	RedirectURI string `json:"u"`
	ReturnTo    string `json:"r"`
	// DefaultPrompt tells that the login sent stauth's default prompt,
	// which a provider may refuse (see serveCallback).
	DefaultPrompt bool  `json:"d,omitempty"`
	Created       int64 `json:"c"`
}

// siteRoot is where a login with no rd returns: /, or the base path of an
// app whose login_path was moved under it (Streamlit's server.baseUrlPath:
// login_path /app/auth/login returns to /app/).
func (s *Stauth) siteRoot() string {
	if base, ok := strings.CutSuffix(s.LoginPath, DefaultLoginPath); ok && base != "" {
		return base + "/"
	}
	return "/"
}

// promptRefusalKey is where Caddy's storage remembers that a provider
// refused stauth's default prompt, by the provider's binding.
func promptRefusalKey(p *provider) string {
	return "stauth/providers/" + p.binding + "/default-prompt-refused"
}

// rememberPromptRefusal records in Caddy's storage that the provider
// refused the default prompt, so that other instances, and this one after a
// restart, do not send it and make the user log in twice (ORY Hydra
// refuses it only after its login step). A failure only costs that.
func (s *Stauth) rememberPromptRefusal(ctx context.Context, p *provider) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), providerTimeout)
	defer cancel()
	if err := s.storage.Store(ctx, promptRefusalKey(p), []byte(time.Now().UTC().Format(time.RFC3339))); err != nil {
		s.logger.Warn("could not record in Caddy's storage that the provider refused the default prompt", zap.String("provider", p.name), zap.Error(err))
	}
}

// recallPromptRefusal reads, at start, whether the provider refused the
// default prompt before (see rememberPromptRefusal).
func (s *Stauth) recallPromptRefusal(ctx context.Context, p *provider) {
	if p.defaultPrompt != "" && s.storage.Exists(ctx, promptRefusalKey(p)) {
		p.promptRefused.Store(true)
	}
}
