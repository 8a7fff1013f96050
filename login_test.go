package stauth

import (
	"testing"
)

// TestLoginURL: the login endpoint's links keep only what is needed.
func TestLoginURL(t *testing.T) {
	s := &Stauth{LoginPath: "/auth/login"}
	for _, c := range []struct{ provider, returnTo, want string }{
		{"", "/", "/auth/login"},
		{"google", "/", "/auth/login?provider=google"},
		{"", "/a?b=c", "/auth/login?rd=%2Fa%3Fb%3Dc"},
		{"okta", "/x", "/auth/login?provider=okta&rd=%2Fx"},
	} {
		if got := s.loginURL(c.provider, c.returnTo); got != c.want {
			t.Errorf("loginURL(%q, %q) = %q, want %q", c.provider, c.returnTo, got, c.want)
		}
	}
}

// TestLooksLikeLoginToken: a login's provider parameter is Streamlit's
// login token when it has a JWS's three parts.
func TestLooksLikeLoginToken(t *testing.T) {
	for choice, want := range map[string]bool{"google": false, "my.provider": false, "a.b.c": true, "eyJ.eyJ.sig": true} {
		if got := looksLikeLoginToken(choice); got != want {
			t.Errorf("looksLikeLoginToken(%q) = %v, want %v", choice, got, want)
		}
	}
}

// TestSendsDefaultPrompt: Streamlit's default prompt goes only where the
// provider takes it.
func TestSendsDefaultPrompt(t *testing.T) {
	for _, c := range []struct {
		name       string
		configured bool
		listed     []string
		refused    bool
		want       bool
	}{
		{"metadata silent", false, nil, false, true},
		{"metadata lists it", false, []string{"none", "select_account"}, false, true},
		{"metadata lacks it (Hydra)", false, []string{"none", "login", "consent"}, false, false},
		{"refused once", false, nil, true, false},
		{"prompt configured", true, nil, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := &provider{}
			if !c.configured {
				p.defaultPrompt = defaultPrompt
			}
			p.promptRefused.Store(c.refused)
			if got := p.sendsDefaultPrompt(&discovered{promptValues: c.listed}); got != c.want {
				t.Fatalf("sendsDefaultPrompt = %v, want %v", got, c.want)
			}
		})
	}
}

// TestSiteRoot: a login with no rd returns to the base path login_path was
// moved under.
func TestSiteRoot(t *testing.T) {
	for path, want := range map[string]string{"/auth/login": "/", "/app/auth/login": "/app/", "/signin": "/"} {
		if got := (&Stauth{LoginPath: path}).siteRoot(); got != want {
			t.Errorf("siteRoot with login_path %s = %q, want %q", path, got, want)
		}
	}
}
