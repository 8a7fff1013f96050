package stauth

// The weaknesses an independent attack review found (issue 9), each through
// a real Caddy: requested strength, binding to provider and site, shared
// caches, refresh amplification, matcher mode, logout by a same-site image,
// a lowered session_ttl, the reserved tokens key, duplicate cookies, a
// rewritten callback, and a default prompt a provider refuses.

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// TestRefreshRateCap: outbound refreshes per provider are capped.
func TestRefreshRateCap(t *testing.T) {
	rf := newRefresher()
	now := time.Unix(1800000000, 0)
	allowed := 0
	for range refreshBurst * 3 {
		if rf.allow("p", now) {
			allowed++
		}
	}
	if allowed != refreshBurst {
		t.Fatalf("%d refreshes at once, want the burst of %d", allowed, refreshBurst)
	}
	if !rf.allow("q", now) {
		t.Fatal("another provider's budget was spent")
	}
	if rf.allow("p", now.Add(time.Second/refreshRate/2)) || !rf.allow("p", now.Add(time.Second/refreshRate)) {
		t.Fatalf("the budget does not refill at %d a second", refreshRate)
	}
}

// TestJudgeRefresh: 429, 5xx and an unreachable provider mean "try again
// later"; any other failure is a refusal.
func TestJudgeRefresh(t *testing.T) {
	status := func(code int) error {
		return &oauth2.RetrieveError{Response: &http.Response{StatusCode: code}, ErrorCode: "x"}
	}
	for _, c := range []struct {
		name string
		err  error
		want refreshVerdict
	}{
		{"new tokens", nil, refreshDone},
		{"429", status(http.StatusTooManyRequests), refreshLater},
		{"503", status(http.StatusServiceUnavailable), refreshLater},
		{"provider error", &providerError{reason: "answered 502"}, refreshLater},
		{"timeout", context.DeadlineExceeded, refreshLater},
		{"invalid_grant", status(http.StatusBadRequest), refreshRefused},
		{"another subject", errors.New("the refreshed ID token names another subject"), refreshRefused},
	} {
		t.Run(c.name, func(t *testing.T) {
			var token *oauth2.Token
			if c.err == nil {
				token = &oauth2.Token{AccessToken: "a"}
			}
			if got, _ := judgeRefresh(token, c.err); got.verdict != c.want {
				t.Fatalf("verdict %d, want %d", got.verdict, c.want)
			}
		})
	}
}

// TestRefreshOutcomesBounded: remembered outcomes stay within their bound,
// expired ones going first.
func TestRefreshOutcomesBounded(t *testing.T) {
	rf := newRefresher()
	now := time.Unix(1800000000, 0)
	for i := range maxRefreshOutcomes + 50 {
		rf.remember(sha256.Sum256([]byte{byte(i), byte(i >> 8)}), refreshOutcome{verdict: refreshLater}, now)
	}
	if n := len(rf.outcomes); n > maxRefreshOutcomes {
		t.Fatalf("%d outcomes remembered, over the bound of %d", n, maxRefreshOutcomes)
	}
	key := sha256.Sum256([]byte("rt"))
	rf.remember(key, refreshOutcome{verdict: refreshRefused}, now)
	if _, ok := rf.remembered(key, now.Add(refreshRefusedFor-time.Second)); !ok {
		t.Fatal("a refusal is forgotten too soon")
	}
	if _, ok := rf.remembered(key, now.Add(refreshRefusedFor)); ok {
		t.Fatal("a refusal is remembered past its time")
	}
}
