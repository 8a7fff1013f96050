package stauth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// TestGetJSON: a provider's document is decoded from a 200 answer; another
// status, a body that is not JSON and an oversized body are told apart.
func TestGetJSON(t *testing.T) {
	for _, c := range []struct {
		name   string
		status int
		body   string
		want   any // nil: decoded; else the error type
	}{
		{"a document", http.StatusOK, `{"issuer":"https://op.example"}`, nil},
		{"not found", http.StatusNotFound, `{}`, new(*providerError)},
		{"a server error", http.StatusBadGateway, `{}`, new(*providerError)},
		{"not JSON", http.StatusOK, `<html>`, new(*notJSONError)},
		{"too large", http.StatusOK, `{"issuer":"` + strings.Repeat("x", maxProviderResponse) + `"}`, new(*providerError)},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(c.status)
				_, _ = w.Write([]byte(c.body))
			}))
			defer srv.Close()
			var doc struct{ Issuer string }
			err := getJSON(context.Background(), newProviderClient(), srv.URL, &doc)
			switch want := c.want.(type) {
			case nil:
				if err != nil || doc.Issuer != "https://op.example" {
					t.Fatalf("decoded %+v, %v", doc, err)
				}
			case **providerError:
				if !errors.As(err, want) {
					t.Fatalf("error %v, want a providerError", err)
				}
			case **notJSONError:
				if !errors.As(err, want) {
					t.Fatalf("error %v, want a notJSONError", err)
				}
			}
		})
	}
}

// TestLoggable: what a provider sent back never reaches the log whole: an
// OAuth error answer is told by its status and code (x/oauth2 keeps the
// body, which may echo the posted refresh token or client secret), other
// errors are cut at a line and a length.
func TestLoggable(t *testing.T) {
	retrieve := &oauth2.RetrieveError{
		Response:  &http.Response{Status: "403 Forbidden"},
		Body:      []byte("blocked: grant_type=refresh_token&refresh_token=SECRET-RT&client_secret=SECRET-CS"),
		ErrorCode: "",
	}
	for _, c := range []struct {
		err  error
		want string
	}{
		{retrieve, `the token endpoint answered 403 Forbidden, error ""`},
		{errors.New("401 Unauthorized: body line\nSECRET-RT"), "401 Unauthorized: body line"},
		{errors.New(strings.Repeat("x", 500)), strings.Repeat("x", maxLoggedError) + "…"},
		{nil, ""},
	} {
		got := loggable(c.err)
		if got != c.want || strings.Contains(got, "SECRET") {
			t.Errorf("loggable = %q, want %q", got, c.want)
		}
	}
}
