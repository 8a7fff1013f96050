package stauth

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/oauth2"
	"golang.org/x/sync/singleflight"
)

// Refresh timing and limits.
const (
	// refreshBefore is how long before the access token expires it is
	// refreshed.
	refreshBefore = time.Minute
	// refreshReuse is how long the tokens of a refresh are handed to every
	// request that still carries the old refresh token (a parallel request,
	// a replayed cookie), instead of refreshing again: a provider that
	// rotates refresh tokens would take the second use for theft.
	refreshReuse = time.Minute
	// refreshRefusedFor is how long a refused refresh token stays refused
	// without asking the provider again.
	refreshRefusedFor = 10 * time.Minute
	// refreshRetryAfter is how long to wait after a provider that was down,
	// said 429 or answered 5xx, before the same refresh token is tried again.
	refreshRetryAfter = 30 * time.Second
	// maxRefreshOutcomes bounds the outcomes remembered.
	maxRefreshOutcomes = 10000
	// refreshRate and refreshBurst cap the refreshes sent to one provider
	// per second, whatever the traffic.
	refreshRate  = 20
	refreshBurst = 100
)

// refreshVerdict is what became of a refresh.
type refreshVerdict int

const (
	refreshDone    refreshVerdict = iota // new tokens
	refreshLater                         // not now: try again later, keep the session
	refreshRefused                       // the provider refused: end the session
)

// refreshOutcome is a refresh remembered for the refresh token it used.
type refreshOutcome struct {
	verdict refreshVerdict
	token   *oauth2.Token // when done
	until   time.Time     // remembered until then
}

// refresher renews sessions' tokens at their providers, at most once per
// refresh token at a time and per interval, and at a capped rate per
// provider, so that a replayed cookie or a burst of requests cannot make
// the site hammer a provider with its client credentials.
type refresher struct {
	group singleflight.Group

	mu       sync.Mutex
	outcomes map[[32]byte]refreshOutcome // by SHA-256 of the refresh token
	buckets  map[string]*tokenBucket     // by provider name

	// shared, when set, coordinates refreshes with other instances
	// through Caddy's storage (refreshshare.go).
	shared *sharedRefresh
}

func newRefresher() *refresher {
	return &refresher{outcomes: map[[32]byte]refreshOutcome{}, buckets: map[string]*tokenBucket{}}
}

// renewTokens refreshes the session's exposed access token when it expires
// soon. renewed tells that the session now holds new tokens; ok is false
// when the session must end because its tokens were refused.
func (s *Stauth) renewTokens(ctx context.Context, sess *session) (renewed, ok bool) {
	if !needsRefresh(sess) {
		return false, true
	}
	outcome, err := s.refresher.refresh(ctx, s.providers[sess.provider], sess, time.Now())
	s.counters().countRefresh(outcome.verdict)
	switch outcome.verdict {
	case refreshDone:
		sess.renew(outcome.token)
		return true, true
	case refreshLater:
		if err != nil {
			s.logger.Warn("access token refresh failed; trying again later", zap.String("provider", sess.provider), zap.String("sub", sess.sub), zap.String("error", loggable(err)))
		}
		return false, true
	default:
		s.logger.Info("session ended: the access token could not be refreshed", zap.String("provider", sess.provider), zap.String("sub", sess.sub), zap.String("error", loggable(err)))
		return false, false
	}
}

// needsRefresh tells whether the session's exposed access token expires soon
// and a refresh token can renew it.
func needsRefresh(sess *session) bool {
	return sess.refreshToken != "" && sess.accessExpires != 0 &&
		time.Until(time.Unix(sess.accessExpires, 0)) < refreshBefore
}

// refresh returns what a refresh of the session's refresh token gives: a
// remembered outcome, or a new refresh at the provider when its rate
// allows. err, when not nil, is why the provider did not renew the tokens
// just now.
func (rf *refresher) refresh(ctx context.Context, p *provider, sess *session, now time.Time) (refreshOutcome, error) {
	key := sha256.Sum256([]byte(sess.refreshToken))
	if outcome, ok := rf.remembered(key, now); ok {
		return outcome, nil
	}
	shared, _, _ := rf.group.Do(string(key[:]), func() (any, error) {
		if outcome, ok := rf.remembered(key, now); ok {
			return outcomeWithErr{outcome, nil}, nil
		}
		if !rf.allow(p.name, now) {
			return outcomeWithErr{refreshOutcome{verdict: refreshLater}, nil}, nil
		}
		outcome, err := rf.atProvider(ctx, key, func() (refreshOutcome, error) {
			return judgeRefresh(p.refreshTokens(context.WithoutCancel(ctx), sess.refreshToken, sess.sub))
		})
		rf.remember(key, outcome, now)
		return outcomeWithErr{outcome, err}, nil
	})
	result := shared.(outcomeWithErr)
	return result.outcome, result.err
}

// outcomeWithErr carries a refresh's outcome and error through singleflight.
type outcomeWithErr struct {
	outcome refreshOutcome
	err     error
}

// judgeRefresh classifies the provider's answer to a refresh: new tokens;
// a provider that was down, timed out, said 429 or answered 5xx (try later);
// or a refusal (invalid_grant and any other answer).
func judgeRefresh(token *oauth2.Token, err error) (refreshOutcome, error) {
	var re *oauth2.RetrieveError
	switch {
	case err == nil:
		return refreshOutcome{verdict: refreshDone, token: token}, nil
	case isUnreachable(err),
		errors.As(err, &re) && re.Response != nil && (re.Response.StatusCode == http.StatusTooManyRequests || re.Response.StatusCode >= 500):
		return refreshOutcome{verdict: refreshLater}, err
	}
	return refreshOutcome{verdict: refreshRefused}, err
}

// remembered returns the outcome remembered for a refresh token, if any.
func (rf *refresher) remembered(key [32]byte, now time.Time) (refreshOutcome, bool) {
	rf.mu.Lock()
	defer rf.mu.Unlock()
	outcome, ok := rf.outcomes[key]
	if !ok || !now.Before(outcome.until) {
		return refreshOutcome{}, false
	}
	return outcome, true
}

// remember keeps an outcome for as long as its verdict says, in bounded
// memory: when full, expired outcomes go first, then any.
func (rf *refresher) remember(key [32]byte, outcome refreshOutcome, now time.Time) {
	outcome.until = now.Add(map[refreshVerdict]time.Duration{refreshDone: refreshReuse, refreshLater: refreshRetryAfter, refreshRefused: refreshRefusedFor}[outcome.verdict])
	rf.mu.Lock()
	defer rf.mu.Unlock()
	makeRoom(rf.outcomes, maxRefreshOutcomes, func(o refreshOutcome) bool { return !now.Before(o.until) })
	rf.outcomes[key] = outcome
}

// allow takes one refresh from the provider's budget, if there is one.
func (rf *refresher) allow(provider string, now time.Time) bool {
	rf.mu.Lock()
	defer rf.mu.Unlock()
	b := rf.buckets[provider]
	if b == nil {
		b = &tokenBucket{tokens: refreshBurst, at: now}
		rf.buckets[provider] = b
	}
	return b.take(now)
}

// tokenBucket allows refreshRate events a second, refreshBurst at once.
type tokenBucket struct {
	tokens float64
	at     time.Time
}

// take spends one token if there is one.
func (b *tokenBucket) take(now time.Time) bool {
	b.tokens = min(refreshBurst, b.tokens+now.Sub(b.at).Seconds()*refreshRate)
	b.at = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
