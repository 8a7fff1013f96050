// Package dexop runs Dex, a production OpenID provider, in-process for the
// end-to-end tests: Dex's own server package on its in-memory storage, with
// its local password connector, one static user and one confidential client.
// It is for tests only: users and keys live in memory.
package dexop

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/dexidp/dex/server"
	"github.com/dexidp/dex/server/signer"
	"github.com/dexidp/dex/storage"
	"github.com/dexidp/dex/storage/memory"
	"golang.org/x/crypto/bcrypt"
)

// User is an account of the Dex password database.
type User struct {
	// Email is what the user types as the login name, and the email claim.
	Email    string
	Password string
	// Name is the name claim; Username the preferred_username claim.
	Name, Username string
	// ID is the user's ID inside Dex (the sub claim encodes it with the
	// connector's ID).
	ID string
}

// DemoUser is the account the tests log in with.
var DemoUser = User{
	Email:    "dex-demo@example.com",
	Password: "dex-demo-password",
	Name:     "Dex Demo",
	Username: "dexdemo",
	ID:       "dex-demo-1",
}

// Options configure a Dex provider.
type Options struct {
	// Addr is the listen address; empty picks a free port on localhost.
	Addr string
	// ClientID and ClientSecret name the one confidential client; default
	// "stauth" and "stauth-dex-secret".
	ClientID, ClientSecret string
	// RedirectURIs are the client's registered redirect URIs.
	RedirectURIs []string
	// Users can log in; default: DemoUser.
	Users []User
	// ApprovalScreen shows Dex's "Grant Access" page after the password,
	// with its Cancel button (which answers access_denied); by default Dex
	// skips it, as most deployments do.
	ApprovalScreen bool
}

// Provider is a running Dex.
type Provider struct {
	// Issuer is Dex's issuer, http://localhost:PORT/dex (no trailing slash).
	Issuer string
	// MetadataURL is the discovery document's URL, for server_metadata_url.
	MetadataURL string
	// ClientID and ClientSecret are the client's credentials.
	ClientID, ClientSecret string

	server *http.Server
	cancel context.CancelFunc
}

// Start runs Dex until Close.
func Start(o Options) (*Provider, error) {
	if o.Addr == "" {
		o.Addr = "localhost:0"
	}
	if o.ClientID == "" {
		o.ClientID = "stauth"
	}
	if o.ClientSecret == "" {
		o.ClientSecret = "stauth-dex-secret"
	}
	if len(o.Users) == 0 {
		o.Users = []User{DemoUser}
	}
	passwords := make([]storage.Password, 0, len(o.Users))
	for _, u := range o.Users {
		hash, err := bcrypt.GenerateFromPassword([]byte(u.Password), bcrypt.DefaultCost)
		if err != nil {
			return nil, fmt.Errorf("dexop: hashing a password: %w", err)
		}
		passwords = append(passwords, storage.Password{
			Email: u.Email, Hash: hash, Username: u.Username, Name: u.Name, UserID: u.ID,
		})
	}

	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("dexop: listening on %s: %w", o.Addr, err)
	}
	issuer := fmt.Sprintf("http://localhost:%d/dex", ln.Addr().(*net.TCPAddr).Port)

	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	var store storage.Storage = memory.New(logger)
	store = storage.WithStaticClients(store, []storage.Client{{
		ID: o.ClientID, Secret: o.ClientSecret, RedirectURIs: o.RedirectURIs, Name: "stauth end-to-end tests",
	}})
	store = storage.WithStaticPasswords(store, passwords, logger)
	store = storage.WithStaticConnectors(store, []storage.Connector{{
		ID: server.LocalConnector, Type: server.LocalConnector, Name: "Email",
	}})

	ctx, cancel := context.WithCancel(context.Background())
	sign, err := (&signer.LocalConfig{KeysRotationPeriod: "6h"}).Open(ctx, store, 24*time.Hour, time.Now, logger)
	if err != nil {
		cancel()
		ln.Close()
		return nil, fmt.Errorf("dexop: %w", err)
	}
	dex, err := server.NewServer(ctx, server.Config{
		Issuer:             issuer,
		Storage:            store,
		SkipApprovalScreen: !o.ApprovalScreen,
		Logger:             logger,
		Signer:             sign,
		Web:                server.WebConfig{Issuer: "Dex (stauth tests)"},
	})
	if err != nil {
		cancel()
		ln.Close()
		return nil, fmt.Errorf("dexop: %w", err)
	}
	p := &Provider{
		Issuer:       issuer,
		MetadataURL:  issuer + "/.well-known/openid-configuration",
		ClientID:     o.ClientID,
		ClientSecret: o.ClientSecret,
		server:       &http.Server{Handler: dex, ReadHeaderTimeout: 10 * time.Second},
		cancel:       cancel,
	}
	go func() { _ = p.server.Serve(ln) }()
	return p, nil
}

// Close stops Dex.
func (p *Provider) Close() error {
	defer p.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return p.server.Shutdown(ctx)
}
