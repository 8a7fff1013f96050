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
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
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

	started  atomic.Bool
	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
}

// writtenBucket is what the refresher knows of one written bucket.
type writtenBucket struct {
	// names are the key names already read; nil once the bucket is done.
	names map[string]struct{}
	// done: the bucket was listed after it closed and is never listed again.
	done bool
	// maxUntil is the latest expiry in the bucket (Unix seconds).
	maxUntil int64
}

// subMark is a "logged out before" marker: sessions of the sub issued before
// the second before are revoked, until the Unix second until.
type subMark struct {
	before, until int64
}

// revocationSnapshot is the mirror: a large base rebuilt now and then and a
// small layer of recent additions, both immutable.
type revocationSnapshot struct {
	base, recent revocationLayer
}

// revocationLayer holds one sorted table per kind of revocation.
type revocationLayer struct {
	ids  revTable[int64]
	sids revTable[int64]
	subs revTable[subMark]
}

// revocationAdds are entries to add to the mirror.
type revocationAdds struct {
	ids, sids []revEntry[int64]
	subs      []revEntry[subMark]
}

// empty tells whether there is nothing to add.
func (a *revocationAdds) empty() bool {
	return len(a.ids) == 0 && len(a.sids) == 0 && len(a.subs) == 0
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

// refresh adds the revocations written since the last refresh to the
// mirror. It lists only the buckets around now that are not
// done (a missing one is not an error); every revocationSweep, and on the
// first call, it lists the bucket names instead, so it also finds buckets of
// other times (written by an instance whose clock is off, or present at
// start), then drops expired entries from the mirror and prunes the storage.
// What it read before an error is kept.
func (r *revocations) refresh(ctx context.Context) error {
	r.refreshMu.Lock()
	defer r.refreshMu.Unlock()
	now := r.now()
	sweep := now.Sub(r.lastSweep) >= revocationSweep
	dir := path.Join(r.prefix, "written")
	var names []string
	if sweep {
		dirs, err := r.storage.List(ctx, dir, false)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("listing %s: %w", dir, err)
		}
		listed := make(map[string]bool, len(dirs))
		for _, d := range dirs {
			names = append(names, path.Base(d))
			listed[path.Base(d)] = true
		}
		for name := range r.buckets {
			if !listed[name] {
				delete(r.buckets, name) // pruned
			}
		}
	} else {
		for b := now.Add(-revocationBucket - revocationGrace); !b.After(now.Add(revocationBucket)); b = b.Add(revocationBucket) {
			names = append(names, bucketName(b))
		}
	}
	var adds revocationAdds
	defer func() { r.add(adds) }()
	for _, name := range names {
		if err := r.listBucket(ctx, name, now, &adds); err != nil {
			return err
		}
	}
	if sweep {
		r.lastSweep = now
		r.add(adds)
		adds = revocationAdds{}
		r.sweep(now)
		r.prune(ctx, now)
	}
	return nil
}

// listBucket lists one written bucket unless it is done, adding the names
// it has not seen yet; a bucket listed after its end and the grace is done.
// Only the names of open buckets are kept, to skip them at the next listing.
func (r *revocations) listBucket(ctx context.Context, name string, now time.Time, adds *revocationAdds) error {
	begin, err := time.Parse(bucketLayout, name)
	if err != nil {
		return nil // not a bucket
	}
	b := r.buckets[name]
	if b != nil && b.done {
		return nil
	}
	closed := now.After(begin.Add(revocationBucket + revocationGrace))
	key := path.Join(r.prefix, "written", name)
	keys, err := r.storage.List(ctx, key, false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // not written, or pruned meanwhile
	}
	if err != nil {
		return fmt.Errorf("listing %s: %w", key, err)
	}
	if b == nil {
		b = &writtenBucket{}
		if !closed {
			b.names = map[string]struct{}{}
		}
		r.buckets[name] = b
	}
	for _, k := range keys {
		n := path.Base(k)
		if b.names != nil {
			if _, ok := b.names[n]; ok {
				continue
			}
			b.names[n] = struct{}{}
		}
		if until, ok := adds.parse(n); ok {
			b.maxUntil = max(b.maxUntil, until)
		}
	}
	if closed {
		b.done, b.names = true, nil
	}
	return nil
}

// parse adds the revocation a key name holds and returns its expiry; ok is
// false for a name that is not a revocation.
func (a *revocationAdds) parse(name string) (until int64, ok bool) {
	kind, rest, _ := strings.Cut(name, ".")
	h, rest, _ := strings.Cut(rest, ".")
	var k [16]byte
	if len(h) != 32 {
		return 0, false
	}
	if _, err := hex.Decode(k[:], []byte(h)); err != nil {
		return 0, false
	}
	var vals [2]int64
	n := 0
	for ; rest != "" && n < len(vals); n++ {
		var num string
		num, rest, _ = strings.Cut(rest, ".")
		v, err := strconv.ParseInt(num, 10, 64)
		if err != nil {
			return 0, false
		}
		vals[n] = v
	}
	if rest != "" {
		return 0, false
	}
	switch {
	case kind == "id" && n == 1:
		a.ids = append(a.ids, revEntry[int64]{key: k, val: vals[0]})
	case kind == "sid" && n == 1:
		a.sids = append(a.sids, revEntry[int64]{key: k, val: vals[0]})
	case kind == "sub" && n == 2:
		a.subs = append(a.subs, revEntry[subMark]{key: k, val: subMark{before: vals[0], until: vals[1]}})
	default:
		return 0, false
	}
	return vals[n-1], true
}

// prune deletes, under a storage lock so that one instance does it at a
// time, the written buckets whose every entry has expired and the jti
// buckets whose time has passed. Failures are left for the next sweep.
func (r *revocations) prune(ctx context.Context, now time.Time) {
	var old []string
	for name, b := range r.buckets {
		if b.done && b.maxUntil < now.Unix() {
			old = append(old, path.Join(r.prefix, "written", name))
		}
	}
	jtiDir := path.Join(r.prefix, "jti")
	jtis, _ := r.storage.List(ctx, jtiDir, false)
	for _, j := range jtis {
		if begin, err := time.Parse(bucketLayout, path.Base(j)); err == nil && now.After(begin.Add(revocationBucket)) {
			old = append(old, path.Join(jtiDir, path.Base(j)))
		}
	}
	if len(old) == 0 {
		return
	}
	lock := path.Join(r.prefix, "prune")
	if tl, ok := r.storage.(certmagic.TryLocker); ok {
		if got, err := tl.TryLock(ctx, lock); err != nil || !got {
			return // another instance prunes
		}
	} else if err := r.storage.Lock(ctx, lock); err != nil {
		return
	}
	defer r.storage.Unlock(context.WithoutCancel(ctx), lock) // a lock left behind goes stale and is taken over
	for _, key := range old {
		if err := r.storage.Delete(ctx, key); err != nil {
			r.logger.Debug("could not prune expired revocations", zap.String("key", key), zap.Error(err))
			continue
		}
		delete(r.buckets, path.Base(key))
	}
}

// recentMax is how many entries the recent layer holds before they are
// merged into the base: merging copies the base, adding copies the layer.
func recentMax(base int) int {
	return max(1024, base/64)
}

// add puts entries in the mirror: in the recent layer, merged into the base
// when that grows too large.
func (r *revocations) add(a revocationAdds) {
	if a.empty() {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.snap.Load()
	n := &revocationSnapshot{base: s.base, recent: revocationLayer{
		ids:  buildTable(a.ids, s.recent.ids.entries, maxInt64, nil),
		sids: buildTable(a.sids, s.recent.sids.entries, maxInt64, nil),
		subs: buildTable(a.subs, s.recent.subs.entries, maxSubMark, nil),
	}}
	if n.recent.size() > recentMax(n.base.size()) {
		n = &revocationSnapshot{base: mergeLayers(n.base, n.recent, nil)}
	}
	r.snap.Store(n)
}

// sweep rebuilds the mirror without the entries expired at now.
func (r *revocations) sweep(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.snap.Load()
	if s.recent.size() == 0 && !s.base.expired(now.Unix()) {
		return
	}
	r.snap.Store(&revocationSnapshot{base: mergeLayers(s.base, s.recent, &now)})
}

// mergeLayers merges two layers into one, dropping entries expired at now
// when now is not nil.
func mergeLayers(a, b revocationLayer, now *time.Time) revocationLayer {
	var live func(int64) bool
	var liveSub func(subMark) bool
	if now != nil {
		t := now.Unix()
		live = func(u int64) bool { return u >= t }
		liveSub = func(m subMark) bool { return m.until >= t }
	}
	return revocationLayer{
		ids:  buildTable(a.ids.entries, b.ids.entries, maxInt64, live),
		sids: buildTable(a.sids.entries, b.sids.entries, maxInt64, live),
		subs: buildTable(a.subs.entries, b.subs.entries, maxSubMark, liveSub),
	}
}

// expired tells whether an entry of the layer expired before the Unix second t.
func (l *revocationLayer) expired(t int64) bool {
	return slices.ContainsFunc(l.ids.entries, func(e revEntry[int64]) bool { return e.val < t }) ||
		slices.ContainsFunc(l.sids.entries, func(e revEntry[int64]) bool { return e.val < t }) ||
		slices.ContainsFunc(l.subs.entries, func(e revEntry[subMark]) bool { return e.val.until < t })
}

// size is the number of entries in the layer.
func (l *revocationLayer) size() int {
	return l.ids.len() + l.sids.len() + l.subs.len()
}

// maxInt64 merges two expiries of one key.
func maxInt64(a, b int64) int64 { return max(a, b) }

// maxSubMark merges two markers of one sub: the later one revokes more.
func maxSubMark(a, b subMark) subMark {
	return subMark{before: max(a.before, b.before), until: max(a.until, b.until)}
}

// bucketName names the bucket of time t.
func bucketName(t time.Time) string {
	return t.UTC().Truncate(revocationBucket).Format(bucketLayout)
}

// ceilUnix is t in Unix seconds, rounded up.
func ceilUnix(t time.Time) int64 {
	s := t.Unix()
	if t.Nanosecond() != 0 {
		s++
	}
	return s
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

// revEntry is one mirror entry: a 16-byte key and its value.
type revEntry[V any] struct {
	key [16]byte
	val V
}

// revTable is an immutable set of entries sorted by key, with a radix index
// on the key's first bits: a lookup reads one index slot and binary-searches
// the few entries it points to. Keys are random or hashes, so the entries
// spread evenly. It holds no pointers, so the garbage collector skips it.
type revTable[V any] struct {
	entries []revEntry[V]
	// index[p] is the first entry whose key's top bits are >= p; it has
	// 1<<bits + 1 slots.
	index []uint32
	shift uint
}

// len is the number of entries.
func (t *revTable[V]) len() int { return len(t.entries) }

// has tells whether key is in the table.
func (t *revTable[V]) has(key [16]byte) bool {
	_, ok := t.get(key)
	return ok
}

// get returns key's value.
func (t *revTable[V]) get(key [16]byte) (v V, ok bool) {
	if len(t.entries) == 0 {
		return v, false
	}
	hi, lo := binary.BigEndian.Uint64(key[:8]), binary.BigEndian.Uint64(key[8:])
	p := hi >> t.shift
	i, j := int(t.index[p]), int(t.index[p+1])
	for i < j {
		m := int(uint(i+j) >> 1)
		e := &t.entries[m]
		eh, el := binary.BigEndian.Uint64(e.key[:8]), binary.BigEndian.Uint64(e.key[8:])
		switch {
		case eh == hi && el == lo:
			return e.val, true
		case eh < hi || (eh == hi && el < lo):
			i = m + 1
		default:
			j = m
		}
	}
	return v, false
}

// buildTable builds a table of the entries of a, in any order, and b,
// sorted by key (a table's entries): a is sorted, then both are merged in
// one pass. Values of equal keys are merged; only entries live accepts (all
// when nil) are kept.
func buildTable[V any](a, b []revEntry[V], merge func(V, V) V, live func(V) bool) revTable[V] {
	if !slices.IsSortedFunc(a, compareEntries) {
		a = slices.Clone(a)
		slices.SortFunc(a, compareEntries)
	}
	out := make([]revEntry[V], 0, len(a)+len(b))
	put := func(e revEntry[V]) {
		if live != nil && !live(e.val) {
			return
		}
		if n := len(out); n > 0 && out[n-1].key == e.key {
			out[n-1].val = merge(out[n-1].val, e.val)
			return
		}
		out = append(out, e)
	}
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		if j == len(b) || (i < len(a) && compareKeys(&a[i].key, &b[j].key) <= 0) {
			put(a[i])
			i++
		} else {
			put(b[j])
			j++
		}
	}
	if len(out) == 0 {
		return revTable[V]{}
	}
	out = slices.Clip(out)
	// About four entries per index slot.
	bits := uint(0)
	for bits < 24 && 4<<bits < len(out) {
		bits++
	}
	t := revTable[V]{entries: out, index: make([]uint32, 1<<bits+1), shift: 64 - bits}
	e := 0
	for p := range 1 << bits {
		for e < len(out) && binary.BigEndian.Uint64(out[e].key[:8])>>t.shift < uint64(p) {
			e++
		}
		t.index[p] = uint32(e)
	}
	t.index[1<<bits] = uint32(len(out))
	return t
}

// compareEntries orders entries by key.
func compareEntries[V any](x, y revEntry[V]) int { return compareKeys(&x.key, &y.key) }

// compareKeys orders 16-byte keys as big-endian numbers.
func compareKeys(a, b *[16]byte) int {
	for i := range a {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}
