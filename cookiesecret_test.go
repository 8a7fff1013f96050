package stauth

import (
	"strings"
	"testing"
)

// TestCookieSecretStrength: guessable secrets are refused, middling ones
// start with a warning, generated ones pass (review item 6).
func TestCookieSecretStrength(t *testing.T) {
	for _, c := range []struct {
		secret  string
		verdict string // refuse, warn or ok
	}{
		{"CompanyName2024!", "refuse"},
		{"Summer2024!Summer2024!", "refuse"},
		{"correcthorsebatterystaple", "refuse"},
		{strings.Repeat("ab", 20), "refuse"},
		{"0123456789abcdef", "refuse"},
		{"tiny-secret", "refuse"},
		{"Kx7-Summer-Dog-2024-q", "warn"},
		{"9vJ3kQ_ZpL0xR7mWc2YtBe", "ok"},                                           // 16 random bytes, base64
		{"3f9c1a7be2d84c6f0a5e1d2c3b4a59687f6e5d4c3b2a19080f1e2d3c4b5a6978", "ok"}, // openssl rand -hex 32
	} {
		t.Run(c.secret, func(t *testing.T) {
			problem, warning := checkCookieSecret("cookie_secret", c.secret)
			got := "ok"
			switch {
			case problem != "":
				got = "refuse"
			case warning != "":
				got = "warn"
			}
			if got != c.verdict {
				t.Fatalf("%q (%.0f bits): %s, want %s", c.secret, secretBits(c.secret), got, c.verdict)
			}
			for _, msg := range []string{problem, warning} {
				if msg != "" && (!strings.Contains(msg, "cookie_secret") || !strings.Contains(msg, "openssl rand -hex 32") || strings.Contains(msg, c.secret)) {
					t.Fatalf("the message must name the key and the fix, never the secret: %q", msg)
				}
			}
		})
	}
}
