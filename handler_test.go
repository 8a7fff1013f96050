package stauth

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestIsNavigation(t *testing.T) {
	cases := []struct {
		method, accept, mode, upgrade string
		want                          bool
	}{
		{http.MethodGet, "text/html,application/xhtml+xml", "", "", true},
		{http.MethodHead, "text/html", "", "", true},
		{http.MethodGet, "", "navigate", "", true},
		{http.MethodGet, "*/*", "", "", false},
		{http.MethodGet, "application/json", "cors", "", false},
		{http.MethodPost, "text/html", "navigate", "", false},
		// Streamlit's front-end: its WebSocket and its fetches of
		// /_stcore/health and host-config, even with an Accept naming HTML.
		{http.MethodGet, "text/html", "websocket", "websocket", false},
		{http.MethodGet, "text/html", "", "websocket", false},
		{http.MethodGet, "text/html, */*", "cors", "", false},
		{http.MethodGet, "text/html", "no-cors", "", false},
	}
	for _, c := range cases {
		r := httptest.NewRequest(c.method, "/", nil)
		r.Header.Set("Accept", c.accept)
		r.Header.Set("Sec-Fetch-Mode", c.mode)
		r.Header.Set("Upgrade", c.upgrade)
		if got := isNavigation(r); got != c.want {
			t.Errorf("%s Accept=%q Sec-Fetch-Mode=%q Upgrade=%q: navigation=%v, want %v", c.method, c.accept, c.mode, c.upgrade, got, c.want)
		}
	}
}
