package stauth

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestIsNavigation(t *testing.T) {
	cases := []struct {
		method, accept, mode string
		want                 bool
	}{
		{http.MethodGet, "text/html,application/xhtml+xml", "", true},
		{http.MethodHead, "text/html", "", true},
		{http.MethodGet, "", "navigate", true},
		{http.MethodGet, "*/*", "", false},
		{http.MethodGet, "application/json", "cors", false},
		{http.MethodPost, "text/html", "navigate", false},
	}
	for _, c := range cases {
		r := httptest.NewRequest(c.method, "/", nil)
		r.Header.Set("Accept", c.accept)
		r.Header.Set("Sec-Fetch-Mode", c.mode)
		if got := isNavigation(r); got != c.want {
			t.Errorf("%s Accept=%q Sec-Fetch-Mode=%q: navigation=%v, want %v", c.method, c.accept, c.mode, got, c.want)
		}
	}
}
