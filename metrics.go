package stauth

// Prometheus metrics, in Caddy's own registry (served at the admin
// endpoint's /metrics when the metrics global option is on), and the audit
// log lines that go with them.

import (
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// refusalReason is why a session was refused: a small fixed set, the
// refusals metric's label values.
type refusalReason string

// The reasons a session is refused.
const (
	reasonInvalid        refusalReason = "invalid"         // does not open, expired, or from another provider configuration
	reasonRevoked        refusalReason = "revoked"         // logout, back-channel logout, log out everywhere
	reasonIdle           refusalReason = "idle"            // unused for idle_timeout
	reasonRefreshRefused refusalReason = "refresh_refused" // the provider refused to refresh its tokens
	reasonForbidden      refusalReason = "forbidden"       // the allow rules keep the user out
)

// stauthMetrics are stauth's collectors. They are made once per process,
// so counts survive config reloads, and registered in each config's
// registry.
type stauthMetrics struct {
	logins      prometheus.Counter
	refusals    *prometheus.CounterVec
	logouts     *prometheus.CounterVec
	refreshes   *prometheus.CounterVec
	backchannel *prometheus.CounterVec
	bearer      *prometheus.CounterVec

	mu     sync.Mutex
	stores map[*revocations]struct{}
}

// metricsOnce makes the process's collectors.
var (
	metricsOnce sync.Once
	theMetrics  *stauthMetrics
)

// newStauthMetrics makes the collectors.
func newStauthMetrics() *stauthMetrics {
	const ns = "caddy_stauth"
	m := &stauthMetrics{
		logins: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "logins_total", Help: "Logins completed."}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "session_refusals_total",
			Help: "Sessions refused, by reason (invalid, revoked, idle, refresh_refused, forbidden)."}, []string{"reason"}),
		logouts: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "logouts_total",
			Help: "Logouts, by kind (session, everywhere) and whether the revocation was stored."}, []string{"kind", "stored"}),
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "refreshes_total",
			Help: "Token refreshes, by outcome (ok, later, refused)."}, []string{"outcome"}),
		backchannel: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "backchannel_logouts_total",
			Help: "Back-channel logout requests, by outcome (ok, invalid, unavailable)."}, []string{"outcome"}),
		bearer: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "bearer_tokens_total",
			Help: "Bearer tokens, by outcome (accepted, refused)."}, []string{"outcome"}),
		stores: map[*revocations]struct{}{},
	}
	return m
}

// collectors are every collector of m, the gauges included.
func (m *stauthMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.logins, m.refusals, m.logouts, m.refreshes, m.backchannel, m.bearer,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "caddy_stauth", Name: "revocations",
			Help: "Revocations held in memory (session ids, provider sids, logged-out subs)."}, m.revocationCount),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "caddy_stauth", Name: "revocations_refresh_age_seconds",
			Help: "Seconds since revocations were last read from storage successfully (the oldest store's); -1 before the first."}, m.refreshAge),
	}
}

// registerMetrics registers the process's collectors in a config's
// registry (nil: none). A collector registered already, by another stauth
// of the same config, is fine.
func registerMetrics(reg *prometheus.Registry, logger *zap.Logger) *stauthMetrics {
	metricsOnce.Do(func() { theMetrics = newStauthMetrics() })
	if reg == nil {
		return theMetrics
	}
	for _, c := range theMetrics.collectors() {
		if err := reg.Register(c); err != nil {
			var dup prometheus.AlreadyRegisteredError
			if !errors.As(err, &dup) {
				logger.Warn("a stauth metric could not be registered", zap.Error(err))
			}
		}
	}
	return theMetrics
}

// watchRevocations makes the gauges read a revocation store.
func (m *stauthMetrics) watchRevocations(r *revocations) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stores[r] = struct{}{}
}

// forgetRevocations stops reading a stopped store.
func (m *stauthMetrics) forgetRevocations(r *revocations) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.stores, r)
}

// revocationCount is how many revocations the watched stores hold.
func (m *stauthMetrics) revocationCount() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for r := range m.stores {
		snap := r.snap.Load()
		n += snap.base.size() + snap.recent.size()
	}
	return float64(n)
}

// refreshAge is the age of the stalest watched store's last good refresh.
func (m *stauthMetrics) refreshAge() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	age := -1.0
	for r := range m.stores {
		at := r.lastRefreshed.Load()
		if at == 0 {
			return -1
		}
		age = max(age, time.Since(time.Unix(0, at)).Seconds())
	}
	return age
}

// clientIP is Caddy's idea of the request's client address (trusted
// proxies considered).
func clientIP(r *http.Request) string {
	ip, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
	return ip
}

// audit logs one audit event. It never carries a token, a cookie or a
// secret: a provider, a sub, the first bytes of a session id, the client's
// address, and the fields given (a reason, an email).
func (s *Stauth) audit(event, provider, sub, session, ip string, fields ...zap.Field) {
	s.logger.Info("audit: "+event, append([]zap.Field{zap.String("event", event), zap.String("provider", provider),
		zap.String("sub", sub), zap.String("session", session), zap.String("client_ip", ip)}, fields...)...)
}

// refused counts and logs a refused session (sess may be nil: a cookie
// that does not open).
func (s *Stauth) refused(r *http.Request, sess *session, reason refusalReason) {
	s.counters().refusals.WithLabelValues(string(reason)).Inc()
	event := "refusal"
	if reason == reasonForbidden {
		event = "forbidden"
	}
	if sess == nil {
		s.audit(event, "", "", "", clientIP(r), zap.String("reason", string(reason)))
		return
	}
	s.audit(event, sess.provider, sess.sub, shortID(sess), clientIP(r), zap.String("reason", string(reason)), zap.String("email", sess.email))
}

// loggedIn counts and logs a login.
func (s *Stauth) loggedIn(r *http.Request, sess *session) {
	s.counters().logins.Inc()
	s.audit("login", sess.provider, sess.sub, shortID(sess), clientIP(r))
}

// loggedOut counts and logs a logout of kind session or everywhere.
func (s *Stauth) loggedOut(r *http.Request, sess *session, kind string, stored bool) {
	s.counters().logouts.WithLabelValues(kind, boolLabel(stored)).Inc()
	s.audit("logout", sess.provider, sess.sub, shortID(sess), clientIP(r), zap.String("kind", kind), zap.Bool("stored", stored))
}

// countRefresh counts a refresh's verdict.
func (m *stauthMetrics) countRefresh(v refreshVerdict) {
	m.refreshes.WithLabelValues(map[refreshVerdict]string{refreshDone: "ok", refreshLater: "later", refreshRefused: "refused"}[v]).Inc()
}

// countBearer counts a bearer token accepted or refused: the hook for the
// bearer verifier's wiring.
func (m *stauthMetrics) countBearer(accepted bool) {
	if accepted {
		m.bearer.WithLabelValues("accepted").Inc()
	} else {
		m.bearer.WithLabelValues("refused").Inc()
	}
}

// boolLabel is a label value for a boolean.
func boolLabel(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// counters are the process's collectors, also for a handler that was not
// provisioned (tests).
func (s *Stauth) counters() *stauthMetrics {
	if s.metrics == nil {
		return registerMetrics(nil, nil)
	}
	return s.metrics
}
