package stauth

// The HTTP client of every request to a provider: a timeout, a size cap,
// provider failures as errors, and one way to fetch a JSON document.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"golang.org/x/oauth2"
)

// newProviderClient returns the HTTP client for every request to providers:
// a timeout, a response size cap, and provider failures as errors.
func newProviderClient() *http.Client {
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.ResponseHeaderTimeout = providerTimeout
	return &http.Client{Timeout: providerTimeout, Transport: guardedTransport{base}}
}

// guardedTransport turns a provider's 5xx answer into an error and caps the
// size of every response body.
type guardedTransport struct{ base http.RoundTripper }

func (t guardedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 500 {
		resp.Body.Close()
		return nil, &providerError{reason: "answered " + resp.Status}
	}
	resp.Body = &cappedBody{body: resp.Body, left: maxProviderResponse}
	return resp, nil
}

// cappedBody fails a read past its size limit.
type cappedBody struct {
	body io.ReadCloser
	left int64
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.body.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return n, &providerError{reason: fmt.Sprintf("sent a response larger than %d bytes", maxProviderResponse)}
	}
	return n, err
}

func (b *cappedBody) Close() error { return b.body.Close() }

// providerError is a provider that failed to answer properly.
type providerError struct{ reason string }

func (e *providerError) Error() string { return "the provider " + e.reason }

// getJSON fetches url from a provider with client, within providerTimeout,
// and decodes its 200 answer into v. Another status is a *providerError; a
// body that is not JSON, a *notJSONError.
func getJSON(ctx context.Context, client *http.Client, url string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, providerTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return &providerError{reason: "answered " + resp.Status}
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		if errors.As(err, new(*providerError)) {
			return err // the body was too large
		}
		return &notJSONError{err}
	}
	return nil
}

// notJSONError is a provider's answer that is not the JSON asked for.
type notJSONError struct{ err error }

func (e *notJSONError) Error() string { return "the answer is not valid JSON: " + e.err.Error() }

// maxLoggedError caps the text of a provider call's error in the log.
const maxLoggedError = 200

// loggable is the text of a provider call's error fit for the log and a
// refusal's reason: an OAuth error answer by its status and code (x/oauth2
// puts the whole response body in its error text, which a proxy or a
// provider may fill with what was posted: the client secret or a refresh
// token), any other error cut at its first line and maxLoggedError bytes
// (go-oidc appends response bodies too); "" for none.
func loggable(err error) string {
	if err == nil {
		return "" // a remembered outcome
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status := "no response"
		if re.Response != nil {
			status = re.Response.Status
		}
		return fmt.Sprintf("the token endpoint answered %s, error %q", status, re.ErrorCode)
	}
	text, _, _ := strings.Cut(err.Error(), "\n")
	if len(text) > maxLoggedError {
		text = text[:maxLoggedError] + "…"
	}
	return text
}
