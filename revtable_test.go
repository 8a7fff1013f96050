package stauth

// Tests of the revocation store (issue 12) on a real certmagic.FileStorage:
// instances sharing one storage, "logged out before" markers, pruning with an
// injected clock, storage failures, logout token replay, concurrent use, and
// the mirror's memory and lookup cost at a million entries.

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
)

// millionRevocations returns a store whose mirror holds n revoked session
// ids (not written to storage: listing a million files is another cost, see
// BenchmarkRevocationRefresh), and the ids.
func millionRevocations(tb testing.TB, n int) (*revocations, [][16]byte) {
	r := newRevocations(&certmagic.FileStorage{Path: tb.TempDir()}, revTestPrefix, nil)
	ids := make([][16]byte, n)
	adds := revocationAdds{ids: make([]revEntry[int64], n)}
	until := time.Now().Add(time.Hour).Unix()
	for i := range ids {
		ids[i] = newSessionID(tb)
		adds.ids[i] = revEntry[int64]{key: ids[i], val: until}
	}
	r.add(adds)
	return r, ids
}

// TestRevocationMemory measures the heap a million revoked session ids take
// in the mirror (run with -v for the figure) against a generous bound.
func TestRevocationMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a million entries")
	}
	const n = 1_000_000
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	r, ids := millionRevocations(t, n)
	idsBytes := uint64(len(ids)) * 16 // the test's own list of ids
	delta := heap() - before - idsBytes
	t.Logf("%d revoked session ids: mirror %.1f MB, %.1f bytes per entry", n, float64(delta)/1e6, float64(delta)/n)
	if delta > 40*n {
		t.Errorf("the mirror takes %d bytes for %d ids, over 40 bytes per entry", delta, n)
	}
	for _, id := range ids[:1000] {
		if !r.Revoked(id, "", "", "", time.Time{}) {
			t.Fatal("a revoked id is not found in the mirror")
		}
	}
	if r.Revoked(newSessionID(t), "", "", "", time.Time{}) {
		t.Error("a random id is found in the mirror")
	}
	runtime.KeepAlive(ids)
}

// TestRevokedAllocations checks that Revoked does not allocate, with every
// kind of revocation present.
func TestRevokedAllocations(t *testing.T) {
	r, ids := millionRevocations(t, 10_000)
	ctx := t.Context()
	mustNot(t, r.RevokeSID(ctx, "google", "sid-1", time.Now().Add(time.Hour)))
	mustNot(t, r.RevokeSubBefore(ctx, "google", "alice", time.Now(), time.Now().Add(time.Hour)))
	issued := time.Now().Add(-time.Minute)
	if got := testing.AllocsPerRun(1000, func() {
		r.Revoked(ids[7], "sid-2", "google", "bob", issued)
		r.Revoked([16]byte{1}, "sid-1", "google", "alice", issued)
	}); got != 0 {
		t.Errorf("Revoked allocates %v times per call", got)
	}
}

// BenchmarkRevoked measures the hot path with 0 and a million revoked ids,
// for a revoked (hit) and a live (miss) session, and with sid and sub
// revocations present (each then costs a SHA-256). Ids vary from call to
// call, as they do between requests, so the caches do not hold the table.
func BenchmarkRevoked(b *testing.B) {
	live := make([][16]byte, 1<<16)
	for i := range live {
		live[i] = newSessionID(b)
	}
	for _, n := range []int{0, 1_000_000} {
		r, ids := millionRevocations(b, n)
		issued := time.Now()
		if n > 0 {
			b.Run(fmt.Sprintf("Hit/%d", n), func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					if !r.Revoked(ids[i], "", "google", "alice", issued) {
						b.Fatal("miss")
					}
					i = (i + 7919) % len(ids)
				}
			})
		}
		miss := func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if r.Revoked(live[i&(len(live)-1)], "sid-1", "google", "alice", issued) {
					b.Fatal("hit")
				}
				i++
			}
		}
		b.Run(fmt.Sprintf("Miss/%d", n), miss)
		mustNot(b, r.RevokeSID(b.Context(), "google", "other", time.Now().Add(time.Hour)))
		mustNot(b, r.RevokeSubBefore(b.Context(), "google", "bob", time.Now(), time.Now().Add(time.Hour)))
		b.Run(fmt.Sprintf("MissWithSIDAndSub/%d", n), miss)
	}
}

// TestRevTable builds tables of several sizes, from unsorted entries with
// duplicate keys and keys sharing their first bytes, merged with a sorted
// table, and checks every key is found with its latest value and no other is.
func TestRevTable(t *testing.T) {
	for _, n := range []int{0, 1, 2, 5, 100, 10_000} {
		var a []revEntry[int64]
		want := map[[16]byte]int64{}
		for i := range n {
			k := newSessionID(t)
			if i%3 == 1 {
				k = a[len(a)-1].key
				k[15] ^= 1 // shares the first 15 bytes
			}
			a = append(a, revEntry[int64]{key: k, val: int64(i)})
			want[k] = int64(i)
			if i%5 == 0 { // a duplicate with a smaller value
				a = append(a, revEntry[int64]{key: k, val: -1})
			}
		}
		half := buildTable(a[:len(a)/2], nil, maxInt64, nil)
		tab := buildTable(a[len(a)/2:], half.entries, maxInt64, nil)
		if tab.len() != len(want) {
			t.Errorf("n=%d: %d entries, want %d", n, tab.len(), len(want))
		}
		for k, v := range want {
			if got, ok := tab.get(k); !ok || got != v {
				t.Errorf("n=%d: key %x: %d, %v; want %d", n, k, got, ok, v)
			}
		}
		for range 100 {
			if k := newSessionID(t); tab.has(k) {
				t.Errorf("n=%d: a random key %x is found", n, k)
			}
		}
		live := buildTable(nil, tab.entries, maxInt64, func(v int64) bool { return v >= int64(n/2) })
		if got := live.len(); got != len(want)-countBelow(want, int64(n/2)) {
			t.Errorf("n=%d: %d live entries after filtering", n, got)
		}
	}
}

// countBelow counts the values of m below v.
func countBelow(m map[[16]byte]int64, v int64) int {
	c := 0
	for _, x := range m {
		if x < v {
			c++
		}
	}
	return c
}
