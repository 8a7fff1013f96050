package stauth

import "testing"

func TestSharesCallback(t *testing.T) {
	const base = "https://app.example.com/oauth2callback"
	for _, c := range []struct {
		name, mine, other string
		want              bool
	}{
		{"the same redirect_uri", base, base, true},
		{"redirect URIs that differ in their query only", base + "?p=a", base + "?p=b", true},
		{"a callback per provider", base + "/google", base + "/okta", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			all := []providerConfig{{name: "google", redirectURI: c.mine}, {name: "okta", redirectURI: c.other}}
			if got := sharesCallback(all, all[0]); got != c.want {
				t.Fatalf("sharesCallback = %v, want %v", got, c.want)
			}
		})
	}
	if sharesCallback([]providerConfig{{name: "only", redirectURI: base}}, providerConfig{name: "only", redirectURI: base}) {
		t.Fatal("a provider shares its callback with itself")
	}
}
