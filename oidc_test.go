package stauth

import (
	"strings"
	"testing"
	"time"
)

// TestCheckStrength: what client_kwargs asks of a login, checked in the ID
// token's claims (OpenID Connect Core 1.0 §3.1.2.1, §5.5.1.1).
func TestCheckStrength(t *testing.T) {
	started := time.Unix(1800000000, 0)
	now := started.Add(30 * time.Second)
	at := func(d time.Duration) float64 { return float64(started.Add(d).Unix()) }
	for _, c := range []struct {
		name   string
		p      providerConfig
		claims map[string]any
		want   string // "" passes
	}{
		{"nothing asked", providerConfig{}, map[string]any{}, ""},
		{"acr one of acr_values", providerConfig{acrValues: []string{"mfa", "phr"}}, map[string]any{"acr": "phr"}, ""},
		{"acr missing", providerConfig{acrValues: []string{"mfa"}}, map[string]any{}, `its acr "" is not one of the acr_values [mfa]`},
		{"acr another", providerConfig{acrValues: []string{"mfa"}}, map[string]any{"acr": "pwd"}, `its acr "pwd"`},
		{"max_age met", providerConfig{maxAge: time.Minute, hasMaxAge: true}, map[string]any{"auth_time": at(0)}, ""},
		{"max_age within the skew", providerConfig{maxAge: 0, hasMaxAge: true}, map[string]any{"auth_time": at(-20 * time.Second)}, ""},
		{"max_age exceeded", providerConfig{maxAge: time.Minute, hasMaxAge: true}, map[string]any{"auth_time": at(-time.Hour)}, "more than client_kwargs' max_age of 1m0s"},
		{"max_age without auth_time", providerConfig{maxAge: time.Minute, hasMaxAge: true}, map[string]any{}, "it has no auth_time"},
		{"prompt login met", providerConfig{promptLogin: true}, map[string]any{"auth_time": at(10 * time.Second)}, ""},
		{"prompt login, clocks apart", providerConfig{promptLogin: true}, map[string]any{"auth_time": at(-time.Minute)}, ""},
		{"prompt login, old authentication", providerConfig{promptLogin: true}, map[string]any{"auth_time": at(-time.Hour)}, "before this login started"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := (&provider{providerConfig: c.p}).checkStrength(c.claims, started, now)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}
}
