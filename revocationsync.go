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
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
)

// writtenBucket is what the refresher knows of one written bucket.
type writtenBucket struct {
	// names are the key names already read; nil once the bucket is done.
	names map[string]struct{}
	// done: the bucket was listed after it closed and is never listed again.
	done bool
	// maxUntil is the latest expiry in the bucket (Unix seconds).
	maxUntil int64
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
