package stauth

import (
	"errors"
	"net"
	"net/http"
	"testing"
)

// TestRefusalOf: whose fault a failed login is decides the page's status.
func TestRefusalOf(t *testing.T) {
	for _, c := range []struct {
		name string
		err  *loginError
		want int
	}{
		{"a check that did not pass", refuse("nonce"), http.StatusBadRequest},
		{"a wrong answer", badAnswer("not JSON"), http.StatusBadGateway},
		{"no connection", unreachable(&net.OpError{Op: "dial", Err: errors.New("refused")}, "token"), http.StatusServiceUnavailable},
		{"a time-out", unreachable(&net.DNSError{IsTimeout: true}, "token"), http.StatusGatewayTimeout},
	} {
		t.Run(c.name, func(t *testing.T) {
			ref := refusalOf(c.err)
			if ref.status != c.want || ref.reason != c.err.reason || ref.title == "" {
				t.Fatalf("refusal %+v, want status %d with the reason kept", ref, c.want)
			}
		})
	}
}
