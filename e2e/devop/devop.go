// Package devop is a local development OpenID provider: zitadel/oidc's
// certified OP library with its example in-memory storage, a few users, one
// confidential client, and a small login page with a Cancel button. The
// stauth demo and the end-to-end tests log in through it. It is for
// development only: users and keys live in memory.
package devop

import (
	"context"
	"crypto/sha256"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"
)

// User is an account of the development provider.
type User = storage.User

// DemoUser is the account the demo prints.
var DemoUser = User{
	ID:                "demo-user-1",
	Username:          "demo",
	Password:          "demo",
	FirstName:         "Dana",
	LastName:          "Demo",
	Email:             "demo@example.com",
	EmailVerified:     true,
	PreferredLanguage: language.English,
}

// Options configure a development provider.
type Options struct {
	// Addr is the listen address, such as "localhost:9998"; empty picks a
	// free port on localhost.
	Addr string
	// ClientID and ClientSecret name the one confidential client; default
	// "stauth" and "stauth-dev-secret".
	ClientID, ClientSecret string
	// RedirectURIs are the client's registered redirect URIs, absolute http
	// or https URLs; they are also accepted as post-logout redirect URIs.
	// Start refuses one that is not.
	RedirectURIs []string
	// Users can log in; default: DemoUser.
	Users []User
	// AccessTokenLifetime, when set, shortens the access tokens' lifetime
	// (zitadel's example storage gives 5 minutes), to exercise refresh.
	AccessTokenLifetime time.Duration
}

// Provider is a running development provider.
type Provider struct {
	// Issuer is the provider's issuer, http://localhost:PORT/ (with the
	// trailing slash zitadel publishes).
	Issuer string
	// MetadataURL is the discovery document's URL, for server_metadata_url.
	MetadataURL string
	// ClientID and ClientSecret are the client's credentials.
	ClientID, ClientSecret string

	server *http.Server
}

// Start runs a development provider until Close.
func Start(o Options) (*Provider, error) {
	o = withDefaults(o)
	if err := checkRedirectURIs(o.RedirectURIs); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("devop: listening on %s: %w", o.Addr, err)
	}
	issuer := fmt.Sprintf("http://localhost:%d/", ln.Addr().(*net.TCPAddr).Port)
	client := storage.WebClient(o.ClientID, o.ClientSecret, o.RedirectURIs...)
	store := &devStorage{
		Storage:        storage.NewStorageWithClients(users(o.Users), map[string]*storage.Client{o.ClientID: client}),
		logoutURIs:     o.RedirectURIs,
		accessLifetime: o.AccessTokenLifetime,
	}
	provider, err := op.NewProvider(&op.Config{
		CryptoKey:                sha256.Sum256([]byte("stauth devop: development only")),
		DefaultLogoutRedirectURI: "/logged-out",
		CodeMethodS256:           true,
		AuthMethodPost:           true,
		GrantTypeRefreshToken:    true,
		SupportedUILocales:       []language.Tag{language.English},
	}, store, op.StaticIssuer(issuer), op.WithAllowInsecure(), op.WithCustomAuthEndpoint(op.NewEndpoint("auth")))
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("devop: %w", err)
	}
	mux := http.NewServeMux()
	ui := &loginUI{store: store.Storage, provider: provider, interceptor: op.NewIssuerInterceptor(provider.IssuerFromRequest)}
	mux.HandleFunc("GET /login/username", ui.form)
	mux.HandleFunc("POST /login/username", ui.interceptor.HandlerFunc(ui.submit))
	mux.HandleFunc("GET /logged-out", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "You are signed out of the development provider.")
	})
	mux.Handle("/", provider)
	p := &Provider{
		Issuer:       issuer,
		MetadataURL:  issuer + ".well-known/openid-configuration",
		ClientID:     o.ClientID,
		ClientSecret: o.ClientSecret,
		server:       &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second},
	}
	go func() { _ = p.server.Serve(ln) }()
	return p, nil
}

func withDefaults(o Options) Options {
	if o.Addr == "" {
		o.Addr = "localhost:0"
	}
	if o.ClientID == "" {
		o.ClientID = "stauth"
	}
	if o.ClientSecret == "" {
		o.ClientSecret = "stauth-dev-secret"
	}
	if len(o.Users) == 0 {
		o.Users = []User{DemoUser}
	}
	return o
}

// Close stops the provider.
func (p *Provider) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return p.server.Shutdown(ctx)
}

// userStore serves the configured users.
type userStore map[string]*User

func users(list []User) userStore {
	s := userStore{}
	for i := range list {
		s[list[i].ID] = &list[i]
	}
	return s
}

func (s userStore) GetUserByID(id string) *User { return s[id] }

func (s userStore) GetUserByUsername(name string) *User {
	for _, u := range s {
		if u.Username == name {
			return u
		}
	}
	return nil
}

func (s userStore) ExampleClientID() string { return storage.ServiceUserID }

// devStorage is the example storage with the redirect URIs also accepted
// after logout (which the example's web client does not allow) and,
// optionally, short-lived access tokens.
type devStorage struct {
	*storage.Storage
	logoutURIs     []string
	accessLifetime time.Duration
}

// GetClientByClientID returns the client with post-logout redirect URIs.
func (s *devStorage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.Storage.GetClientByClientID(ctx, id)
	if err != nil {
		return nil, err
	}
	return logoutClient{Client: c, uris: s.logoutURIs}, nil
}

// CreateAccessAndRefreshTokens issues tokens, shortening the access token's
// lifetime when asked to.
func (s *devStorage) CreateAccessAndRefreshTokens(ctx context.Context, request op.TokenRequest, current string) (string, string, time.Time, error) {
	id, refresh, expiry, err := s.Storage.CreateAccessAndRefreshTokens(ctx, request, current)
	if s.accessLifetime > 0 {
		expiry = time.Now().Add(s.accessLifetime)
	}
	return id, refresh, expiry, err
}

type logoutClient struct {
	op.Client
	uris []string
}

func (c logoutClient) PostLogoutRedirectURIs() []string {
	return slices.Concat(c.Client.PostLogoutRedirectURIs(), c.uris)
}

// loginUI is the provider's login page: username, password, Sign in or Cancel.
type loginUI struct {
	store       *storage.Storage
	provider    *op.Provider
	interceptor *op.IssuerInterceptor
}

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Development sign-in</title>
<style>body{font:16px system-ui,sans-serif;max-width:22rem;margin:4rem auto;padding:0 1rem}label,input,button{display:block;width:100%;margin:.4rem 0}input,button{padding:.5rem;font:inherit}.error{color:#b00020}</style>
</head><body>
<h1>Development sign-in</h1>
<p>A local OpenID provider for trying stauth. Not for production.</p>
{{if .Error}}<p class="error" role="alert">{{.Error}}</p>{{end}}
<form method="post" action="/login/username">
<input type="hidden" name="id" value="{{.ID}}">
<label for="username">Username</label><input id="username" name="username" autocomplete="username" autofocus>
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password">
<button type="submit" id="submit" name="action" value="login">Sign in</button>
<button type="submit" id="cancel" name="action" value="deny">Cancel</button>
</form>
</body></html>`))

func (ui *loginUI) form(w http.ResponseWriter, r *http.Request) {
	ui.render(w, r.URL.Query().Get("authRequestID"), "")
}

func (ui *loginUI) render(w http.ResponseWriter, id, message string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = loginPage.Execute(w, struct{ ID, Error string }{id, message})
}

func (ui *loginUI) submit(w http.ResponseWriter, r *http.Request) {
	id := r.FormValue("id")
	if r.FormValue("action") == "deny" {
		authReq, err := ui.store.AuthRequestByID(r.Context(), id)
		if err != nil {
			http.Error(w, "unknown login request", http.StatusBadRequest)
			return
		}
		op.AuthRequestError(w, r, authReq, oidc.ErrAccessDenied().WithDescription("the user cancelled the sign-in"), ui.provider)
		return
	}
	if err := ui.store.CheckUsernamePassword(r.FormValue("username"), r.FormValue("password"), id); err != nil {
		ui.render(w, id, "Wrong username or password.")
		return
	}
	http.Redirect(w, r, op.AuthCallbackURL(ui.provider)(r.Context(), id), http.StatusFound)
}
