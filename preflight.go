package stauth

import (
	"net/http"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// isPreflight tells whether a request is a CORS preflight: OPTIONS with
// Origin and Access-Control-Request-Method.
func isPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && r.Header.Get("Origin") != "" && r.Header.Get("Access-Control-Request-Method") != ""
}

// passPreflight lets a CORS preflight through, logged out, with stauth's
// cookies stripped (a browser sends none with a preflight anyway) and no
// assertion for the upstream: the browser sends the real request
// afterwards, with its credentials, and that one is gated.
func (s *Stauth) passPreflight(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	s.cookies.stripOwn(r.Header)
	s.handOver(r, nil)
	return next.ServeHTTP(w, r)
}
