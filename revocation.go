package stauth

// Revocation of stateless sealed-cookie sessions (issue 12).
//
// A session cookie is valid on its own; revoking one needs shared state. That
// state lives in Caddy's configured storage (certmagic.Storage: the file
// system by default, Redis, Consul, S3... in a cluster), never in a store of
// stauth's own. Each instance keeps a compact in-memory mirror, so the check
// on every request (Revoked) reads memory only; a background refresher brings
// in what other instances wrote.
//
// Storage layout (under prefix, e.g. "stauth/revocations"):
//
//	<prefix>/written/<YYYYMMDDHHMM>/id.<32 hex>.<until>            a session id
//	<prefix>/written/<YYYYMMDDHHMM>/sid.<32 hex>.<until>           a provider sid
//	<prefix>/written/<YYYYMMDDHHMM>/sub.<32 hex>.<before>.<until>  "sub logged out before"
//	<prefix>/jti/<YYYYMMDDHHMM>/<64 hex>                           a logout token's jti
//
// Everything a revocation says is in its key name (times are Unix seconds),
// so the refresher only lists keys and never loads one. The directory (the
// bucket) is the UTC ten minutes the key was written in. A refresh lists
// only the buckets still open: the current one, the next (clocks ahead) and
// those that ended less than revocationGrace ago; a closed bucket is listed
// once more and then never again, its names are forgotten and only its
// latest expiry is kept; once that has passed one instance (under a storage
// lock) deletes the whole bucket. Once a minute the refresher lists the
// bucket names too, to find buckets written by an instance whose clock is
// far off, and prunes.
//
// Instances' clocks must agree within revocationGrace: a revocation written
// by an instance whose clock is further behind lands in a bucket the others
// have closed, and they only learn of it when they restart.
//
// The sid and sub are stored as truncated SHA-256 hashes (with the provider
// name and the kind): key names are then safe in every backend's syntax and
// the storage does not hold the provider's identifiers in clear. The hash is
// not keyed: whoever reads the storage can test a guessed sub, but that
// reader also holds Caddy's TLS private keys, and a key shared by every
// instance would have to outlive cookie_secret rotations. Session ids are
// random and say nothing of the user; they are stored as they are.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
)

// Revocation timing.
const (
	// revocationInterval is how often each instance lists new revocations:
	// a revocation is refused on every instance within this plus one refresh.
	revocationInterval = 2 * time.Second
	// revocationBucket is the span of time whose writes share a bucket.
	revocationBucket = 10 * time.Minute
	// revocationGrace is how long after its end a written bucket is still
	// listed: it covers clock differences between instances and slow writes
	// (a write that takes longer is abandoned and reported as failed).
	revocationGrace = 10 * time.Minute
	// revocationSweep is how often the mirror drops expired entries and the
	// storage is pruned.
	revocationSweep = time.Minute
	// revocationRefreshTimeout bounds one periodic refresh.
	revocationRefreshTimeout = 30 * time.Second
	// bucketLayout names a bucket by the UTC minute it starts at.
	bucketLayout = "200601021504"
)

// errRevocationNotRecorded prefixes the error of a Revoke* call whose write
// to storage failed; the revocation still holds on this instance.
var errRevocationNotRecorded = errors.New("could not record the revocation")

// revocations is the revocation store of one stauth instance: a mirror in
// memory, kept in step with the storage shared by every instance.
type revocations struct {
	storage  certmagic.Storage
	prefix   string
	logger   *zap.Logger
	now      func() time.Time
	interval time.Duration

	// snap is what Revoked reads: immutable, replaced whole.
	snap atomic.Pointer[revocationSnapshot]

	// mu serialises replacing snap.
	mu sync.Mutex

	// refreshMu serialises refreshes; it guards the fields below.
	refreshMu sync.Mutex
	buckets   map[string]*writtenBucket
	failing   bool
	lastSweep time.Time

	// lastRefreshed is when (Unix nanoseconds) a refresh last succeeded;
	// zero before the first (the metrics' gauge reads it).
	lastRefreshed atomic.Int64

	started  atomic.Bool
	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
}

// subMark is a "logged out before" marker: sessions of the sub issued before
// the second before are revoked, until the Unix second until.
type subMark struct {
	before, until int64
}

// newRevocations returns a revocation store kept in storage under prefix
// (e.g. "stauth/revocations"); Start begins refreshing it.
func newRevocations(storage certmagic.Storage, prefix string, logger *zap.Logger) *revocations {
	if logger == nil {
		logger = zap.NewNop()
	}
	r := &revocations{
		storage:  storage,
		prefix:   strings.Trim(prefix, "/"),
		logger:   logger,
		now:      time.Now,
		interval: revocationInterval,
		buckets:  map[string]*writtenBucket{},
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	r.snap.Store(&revocationSnapshot{})
	return r
}

// Start reads the revocations already in storage (so that a new instance
// refuses them from its first request), then refreshes every interval in the
// background until Stop is called or ctx ends. A failed first read is
// logged; the refresher keeps trying.
func (r *revocations) Start(ctx context.Context) {
	r.refreshLogged(ctx)
	r.started.Store(true)
	go r.run(ctx)
}

// Stop ends the background refresher and waits for it.
func (r *revocations) Stop() {
	r.stopOnce.Do(func() { close(r.stop) })
	if r.started.Load() {
		<-r.done
	}
}

// run is the background refresher.
func (r *revocations) run(ctx context.Context) {
	defer close(r.done)
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
			rctx, cancel := context.WithTimeout(ctx, revocationRefreshTimeout)
			r.refreshLogged(rctx)
			cancel()
		}
	}
}

// refreshLogged refreshes and logs a failure once per streak of failures.
func (r *revocations) refreshLogged(ctx context.Context) {
	err := r.refresh(ctx)
	if err == nil {
		r.lastRefreshed.Store(r.now().UnixNano())
	}
	r.refreshMu.Lock()
	defer r.refreshMu.Unlock()
	switch {
	case err != nil && !r.failing:
		r.failing = true
		r.logger.Warn("cannot read session revocations from storage; revocations already known still apply, new ones from other instances will arrive once storage answers",
			zap.String("storage", fmt.Sprint(r.storage)), zap.Error(err))
	case err == nil && r.failing:
		r.failing = false
		r.logger.Info("session revocations are read from storage again")
	}
}

// Revoked tells whether a session is revoked: its id, the provider's sid, or
// a "logged out before" marker for its provider and sub issued after it. It
// reads memory only, does not allocate and does not read the clock: an entry
// counts until the sweep after its expiry drops it, so a revocation's until
// must be no earlier than the session's own expiry. The zero id is never
// revoked by id (sessions sealed before ids existed carry it). With sid or
// sub revocations present, each costs a SHA-256 of the sid or sub.
func (r *revocations) Revoked(id [16]byte, sid, provider, sub string, issued time.Time) bool {
	s := r.snap.Load()
	if id != ([16]byte{}) && (s.base.ids.has(id) || s.recent.ids.has(id)) {
		return true
	}
	if sid != "" && (s.base.sids.len() > 0 || s.recent.sids.len() > 0) {
		k := revocationKey('s', provider, sid)
		if s.base.sids.has(k) || s.recent.sids.has(k) {
			return true
		}
	}
	if sub != "" && (s.base.subs.len() > 0 || s.recent.subs.len() > 0) {
		k := revocationKey('u', provider, sub)
		at := issued.Unix()
		if m, ok := s.base.subs.get(k); ok && at < m.before {
			return true
		}
		if m, ok := s.recent.subs.get(k); ok && at < m.before {
			return true
		}
	}
	return false
}

// RevokeSession revokes one session id until (at least) the session's own
// expiry. The revocation holds on this instance at once; the error says the
// other instances will not learn of it.
func (r *revocations) RevokeSession(ctx context.Context, id [16]byte, until time.Time) error {
	u := ceilUnix(until)
	r.add(revocationAdds{ids: []revEntry[int64]{{key: id, val: u}}})
	return r.record(ctx, "id."+hex.EncodeToString(id[:])+"."+strconv.FormatInt(u, 10))
}

// RevokeSID revokes every session carrying the provider's session id sid
// (back-channel logout by sid) until the latest expiry of such a session.
func (r *revocations) RevokeSID(ctx context.Context, provider, sid string, until time.Time) error {
	k, u := revocationKey('s', provider, sid), ceilUnix(until)
	r.add(revocationAdds{sids: []revEntry[int64]{{key: k, val: u}}})
	return r.record(ctx, "sid."+hex.EncodeToString(k[:])+"."+strconv.FormatInt(u, 10))
}

// RevokeSubBefore revokes every session of the provider's sub issued before
// t (back-channel logout by sub, "log out everywhere"), keeping the marker
// until (t plus the longest session lifetime). A session issued in the same
// second as t counts as before it: the user logs in again rather than an old
// session surviving.
func (r *revocations) RevokeSubBefore(ctx context.Context, provider, sub string, t, until time.Time) error {
	k, m := revocationKey('u', provider, sub), subMark{before: t.Unix() + 1, until: ceilUnix(until)}
	r.add(revocationAdds{subs: []revEntry[subMark]{{key: k, val: m}}})
	return r.record(ctx, "sub."+hex.EncodeToString(k[:])+"."+strconv.FormatInt(m.before, 10)+"."+strconv.FormatInt(m.until, 10))
}

// record writes a revocation's key in the current bucket. The write
// must finish within half the grace, so that other instances still list it.
func (r *revocations) record(ctx context.Context, name string) error {
	key := path.Join(r.prefix, "written", bucketName(r.now()), name)
	ctx, cancel := context.WithTimeout(ctx, revocationGrace/2)
	defer cancel()
	if err := r.storage.Store(ctx, key, []byte{'1'}); err != nil {
		return fmt.Errorf("%w: %w", errRevocationNotRecorded, err)
	}
	return nil
}

// SeenJTI records a logout token's jti from provider until the token's
// expiry and tells whether it was recorded already (a replay). Instances
// agree through a storage lock on the jti's hash.
func (r *revocations) SeenJTI(ctx context.Context, provider, jti string, until time.Time) (replayed bool, err error) {
	sum := sha256.Sum256([]byte("stauth jti\x00" + provider + "\x00" + jti))
	name := hex.EncodeToString(sum[:])
	key := path.Join(r.prefix, "jti", bucketName(until), name)
	lock := path.Join(r.prefix, "jti-"+name)
	if err := r.storage.Lock(ctx, lock); err != nil {
		return false, fmt.Errorf("locking the logout token id: %w", err)
	}
	defer func() {
		if uerr := r.storage.Unlock(context.WithoutCancel(ctx), lock); uerr != nil && err == nil {
			err = fmt.Errorf("unlocking the logout token id: %w", uerr)
		}
	}()
	switch _, err := r.storage.Load(ctx, key); {
	case err == nil:
		return true, nil
	case !errors.Is(err, fs.ErrNotExist):
		return false, fmt.Errorf("reading the logout token id: %w", err)
	}
	if err := r.storage.Store(ctx, key, []byte(strconv.FormatInt(ceilUnix(until), 10))); err != nil {
		return false, fmt.Errorf("recording the logout token id: %w", err)
	}
	return false, nil
}

// revocationKey is the 16-byte key of a provider's sid (kind 's') or sub
// (kind 'u'): a truncated SHA-256, computed without allocating for usual
// lengths.
func revocationKey(kind byte, provider, value string) [16]byte {
	var buf [256]byte
	b := append(buf[:0], kind, 0)
	b = append(b, provider...)
	b = append(b, 0)
	b = append(b, value...)
	sum := sha256.Sum256(b)
	return [16]byte(sum[:16])
}
