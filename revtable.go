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
	"encoding/binary"
	"slices"
	"time"
)

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

// recentMax is how many entries the recent layer holds before they are
// merged into the base: merging copies the base, adding copies the layer.
func recentMax(base int) int {
	return max(1024, base/64)
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
