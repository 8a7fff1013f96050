package stauth

// Tests of the revocation store (issue 12) on a real certmagic.FileStorage:
// instances sharing one storage, "logged out before" markers, pruning with an
// injected clock, storage failures, logout token replay, concurrent use, and
// the mirror's memory and lookup cost at a million entries.

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// revTestPrefix is where the tests keep revocations in storage.
const revTestPrefix = "stauth/revocations"

// revClock is a settable clock shared by the instances of a test.
type revClock struct {
	mu sync.Mutex
	t  time.Time
}

// Now returns the clock's time.
func (c *revClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Add moves the clock forward.
func (c *revClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// flakyStorage is a storage that fails every call while down is set, and
// counts the lists of each path.
type flakyStorage struct {
	certmagic.Storage
	down  atomic.Bool
	mu    sync.Mutex
	lists map[string]int
}

// errStorageDown is what flakyStorage answers while down.
var errStorageDown = errors.New("storage unreachable (test)")

// Store fails while down.
func (f *flakyStorage) Store(ctx context.Context, key string, value []byte) error {
	if f.down.Load() {
		return errStorageDown
	}
	return f.Storage.Store(ctx, key, value)
}

// Load fails while down.
func (f *flakyStorage) Load(ctx context.Context, key string) ([]byte, error) {
	if f.down.Load() {
		return nil, errStorageDown
	}
	return f.Storage.Load(ctx, key)
}

// List fails while down and counts the lists of each path.
func (f *flakyStorage) List(ctx context.Context, p string, recursive bool) ([]string, error) {
	if f.down.Load() {
		return nil, errStorageDown
	}
	f.mu.Lock()
	if f.lists == nil {
		f.lists = map[string]int{}
	}
	f.lists[p]++
	f.mu.Unlock()
	return f.Storage.List(ctx, p, recursive)
}

// Lock fails while down.
func (f *flakyStorage) Lock(ctx context.Context, name string) error {
	if f.down.Load() {
		return errStorageDown
	}
	return f.Storage.Lock(ctx, name)
}

// listed is how many times p was listed.
func (f *flakyStorage) listed(p string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lists[p]
}

// newTestRevocations returns n instances sharing storage and clock.
func newTestRevocations(t *testing.T, storage certmagic.Storage, clock *revClock, n int) []*revocations {
	t.Helper()
	rs := make([]*revocations, n)
	for i := range rs {
		rs[i] = newRevocations(storage, revTestPrefix, zap.NewNop())
		rs[i].now = clock.Now
	}
	return rs
}

// newSessionID returns a random session id.
func newSessionID(t testing.TB) [16]byte {
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		t.Fatal(err)
	}
	return id
}

// revSession is a session as Revoked sees it.
type revSession struct {
	id                 [16]byte
	sid, provider, sub string
	issued             time.Time
}

// revoked asks r about s.
func (s revSession) revokedBy(r *revocations) bool {
	return r.Revoked(s.id, s.sid, s.provider, s.sub, s.issued)
}

// TestRevocationsShared revokes on one instance and checks it refuses at
// once, the other instance after its refresh, and that other sessions of the
// same user or provider are untouched.
func TestRevocationsShared(t *testing.T) {
	start := time.Date(2026, 11, 30, 10, 20, 0, 0, time.UTC)
	for _, c := range []struct {
		name   string
		revoke func(r *revocations, s revSession) error
		// spared is a session the revocation must not touch.
		spared func(s revSession) revSession
	}{
		{"session id", func(r *revocations, s revSession) error {
			return r.RevokeSession(context.Background(), s.id, s.issued.Add(8*time.Hour))
		}, func(s revSession) revSession { s.id = newSessionID(t); return s }},
		{"provider sid", func(r *revocations, s revSession) error {
			return r.RevokeSID(context.Background(), s.provider, s.sid, s.issued.Add(8*time.Hour))
		}, func(s revSession) revSession { s.id, s.sid = newSessionID(t), "other-sid"; return s }},
		{"same sid at another provider", func(r *revocations, s revSession) error {
			return r.RevokeSID(context.Background(), s.provider, s.sid, s.issued.Add(8*time.Hour))
		}, func(s revSession) revSession { s.id, s.provider = newSessionID(t), "okta"; return s }},
		{"sub logged out", func(r *revocations, s revSession) error {
			return r.RevokeSubBefore(context.Background(), s.provider, s.sub, s.issued.Add(time.Minute), s.issued.Add(9*time.Hour))
		}, func(s revSession) revSession { s.id, s.sid, s.sub = newSessionID(t), "sid-2", "bob"; return s }},
	} {
		t.Run(c.name, func(t *testing.T) {
			clock := &revClock{t: start}
			rs := newTestRevocations(t, &certmagic.FileStorage{Path: t.TempDir()}, clock, 2)
			a, b := rs[0], rs[1]
			s := revSession{id: newSessionID(t), sid: "op-sid-1", provider: "google", sub: "alice", issued: start.Add(-time.Hour)}
			if s.revokedBy(a) || s.revokedBy(b) {
				t.Fatal("a session is revoked before any revocation")
			}
			if err := c.revoke(a, s); err != nil {
				t.Fatal(err)
			}
			if !s.revokedBy(a) {
				t.Error("the instance that revoked still accepts the session")
			}
			if s.revokedBy(b) {
				t.Error("the other instance knew of the revocation before reading storage")
			}
			clock.Add(time.Second)
			if err := b.refresh(context.Background()); err != nil {
				t.Fatal(err)
			}
			if !s.revokedBy(b) {
				t.Error("the other instance accepts the session after its refresh")
			}
			spared := c.spared(s)
			for name, r := range map[string]*revocations{"a": a, "b": b} {
				if spared.revokedBy(r) {
					t.Errorf("instance %s refuses a session the revocation does not name", name)
				}
			}
			// A third instance starting now reads it at Start.
			late := newTestRevocations(t, b.storage, clock, 1)[0]
			late.Start(t.Context())
			defer late.Stop()
			if !s.revokedBy(late) {
				t.Error("an instance started after the revocation accepts the session")
			}
		})
	}
}

// TestRevocationsSubBefore checks which sessions of a sub a "logged out
// before T" marker revokes, on the instance that wrote it and on another.
func TestRevocationsSubBefore(t *testing.T) {
	T := time.Date(2026, 11, 30, 10, 20, 30, 500_000_000, time.UTC)
	clock := &revClock{t: T}
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	rs := newTestRevocations(t, storage, clock, 2)
	if err := rs[0].RevokeSubBefore(context.Background(), "google", "alice", T, T.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := rs[1].refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name     string
		provider string
		sub      string
		issued   time.Time
		revoked  bool
	}{
		{"issued an hour before", "google", "alice", T.Add(-time.Hour), true},
		{"issued just before", "google", "alice", T.Add(-time.Millisecond), true},
		{"issued in the same second, after (fail-safe)", "google", "alice", T.Add(400 * time.Millisecond), true},
		{"issued the next second", "google", "alice", T.Add(600 * time.Millisecond), false},
		{"issued an hour after", "google", "alice", T.Add(time.Hour), false},
		{"another sub", "google", "bob", T.Add(-time.Hour), false},
		{"the same sub at another provider", "okta", "alice", T.Add(-time.Hour), false},
	} {
		for i, r := range rs {
			if got := r.Revoked(newSessionID(t), "", c.provider, c.sub, c.issued); got != c.revoked {
				t.Errorf("%s, instance %d: revoked %v, want %v", c.name, i, got, c.revoked)
			}
		}
	}
	// A later marker for the same sub moves T forward; an earlier one does not move it back.
	later := T.Add(2 * time.Hour)
	for _, at := range []time.Time{later, T} {
		if err := rs[0].RevokeSubBefore(context.Background(), "google", "alice", at, at.Add(24*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	clock.Add(time.Second)
	if err := rs[1].refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i, r := range rs {
		if !r.Revoked(newSessionID(t), "", "google", "alice", T.Add(time.Hour)) {
			t.Errorf("instance %d: a session issued before the later marker is accepted", i)
		}
	}
}

// TestRevocationsPrune moves the clock past the expiries and checks that
// expired revocations leave the mirror and the storage, live ones stay, and
// a closed bucket is listed once after closing and then no more.
func TestRevocationsPrune(t *testing.T) {
	start := time.Date(2026, 11, 30, 10, 20, 0, 0, time.UTC)
	clock := &revClock{t: start}
	storage := &flakyStorage{Storage: &certmagic.FileStorage{Path: t.TempDir()}}
	rs := newTestRevocations(t, storage, clock, 2)
	a, b := rs[0], rs[1]
	ctx := context.Background()
	short, long := newSessionID(t), newSessionID(t)
	mustNot(t, a.RevokeSession(ctx, short, start.Add(30*time.Minute)))
	mustNot(t, a.RevokeSID(ctx, "google", "sid-short", start.Add(30*time.Minute)))
	mustNot(t, a.RevokeSubBefore(ctx, "google", "alice", start, start.Add(30*time.Minute)))
	if replayed, err := a.SeenJTI(ctx, "google", "jti-1", start.Add(5*time.Minute)); err != nil || replayed {
		t.Fatalf("SeenJTI: %v, %v", replayed, err)
	}
	clock.Add(2 * time.Hour) // a new bucket: written at 12:20
	mustNot(t, a.RevokeSession(ctx, long, clock.Now().Add(8*time.Hour)))
	mustNot(t, b.refresh(ctx))
	oldBucket := path.Join(revTestPrefix, "written", bucketName(start))
	newBucket := path.Join(revTestPrefix, "written", bucketName(clock.Now()))
	jtiBucket := path.Join(revTestPrefix, "jti", bucketName(start.Add(5*time.Minute)))

	type check struct {
		name string
		ok   bool
	}
	old := revSession{id: short, sid: "sid-short", provider: "google", sub: "alice", issued: start.Add(-time.Hour)}
	for _, c := range []check{
		{"the expired bucket is gone", !storage.Exists(ctx, oldBucket)},
		{"the expired jti bucket is gone", !storage.Exists(ctx, jtiBucket)},
		{"the live bucket stays", storage.Exists(ctx, newBucket)},
		{"the expired session id left the mirror", !b.Revoked(short, "", "", "", time.Time{})},
		{"the expired sid and sub marker left the mirror", !b.Revoked([16]byte{}, old.sid, old.provider, old.sub, old.issued)},
		{"the live revocation holds", b.Revoked(long, "", "", "", time.Time{})},
	} {
		if !c.ok {
			t.Error(c.name)
		}
	}
	// The old bucket was listed once (closed) and is gone; the new bucket
	// is listed on every refresh until it closes, then once more, then never.
	lists := func() int { return storage.listed(newBucket) }
	before := lists()
	mustNot(t, b.refresh(ctx))
	if lists() != before+1 {
		t.Errorf("an open bucket was listed %d times in one refresh, want 1", lists()-before)
	}
	clock.Add(revocationBucket + revocationGrace + time.Second) // closed, entry still live
	mustNot(t, b.refresh(ctx))
	mustNot(t, b.refresh(ctx))
	if lists() != before+2 {
		t.Errorf("a closed bucket was listed %d more times, want once after it closed", lists()-before-1)
	}
	if !b.Revoked(long, "", "", "", time.Time{}) || !storage.Exists(ctx, newBucket) {
		t.Error("a closed bucket with a live entry was dropped")
	}
	// Past its expiry, both instances may try to prune; it is deleted once
	// and neither reports an error for the other's deletion.
	clock.Add(8 * time.Hour)
	mustNot(t, a.refresh(ctx))
	mustNot(t, b.refresh(ctx))
	if storage.Exists(ctx, newBucket) || b.Revoked(long, "", "", "", time.Time{}) || a.Revoked(long, "", "", "", time.Time{}) {
		t.Error("an expired bucket stays after the sweep")
	}
}

// mustNot fails the test on err.
func mustNot(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestRevocationsStorageDown checks that with storage down the mirror keeps
// answering, Revoke* reports the failure but holds locally, and the refresher
// warns once per streak of failures.
func TestRevocationsStorageDown(t *testing.T) {
	start := time.Date(2026, 11, 30, 10, 20, 0, 0, time.UTC)
	clock := &revClock{t: start}
	storage := &flakyStorage{Storage: &certmagic.FileStorage{Path: t.TempDir()}}
	rs := newTestRevocations(t, storage, clock, 2)
	a, b := rs[0], rs[1]
	core, logs := observer.New(zapcore.InfoLevel)
	b.logger = zap.New(core)
	ctx := context.Background()
	known := newSessionID(t)
	mustNot(t, a.RevokeSession(ctx, known, start.Add(time.Hour)))
	b.refreshLogged(ctx)

	storage.down.Store(true)
	for i := range 5 {
		clock.Add(revocationSweep) // sweeps too
		b.refreshLogged(ctx)
		if !b.Revoked(known, "", "", "", time.Time{}) {
			t.Fatalf("refresh %d with storage down forgot a known revocation", i)
		}
	}
	if n := logs.FilterMessageSnippet("cannot read session revocations").Len(); n != 1 {
		t.Errorf("%d warnings for one streak of failures, want 1", n)
	}
	if err := b.refresh(ctx); !errors.Is(err, errStorageDown) {
		t.Errorf("refresh with storage down: %v", err)
	}
	fresh := newSessionID(t)
	for _, c := range []struct {
		name   string
		revoke func() error
		s      revSession
	}{
		{"RevokeSession", func() error { return a.RevokeSession(ctx, fresh, clock.Now().Add(time.Hour)) },
			revSession{id: fresh}},
		{"RevokeSID", func() error { return a.RevokeSID(ctx, "google", "sid-9", clock.Now().Add(time.Hour)) },
			revSession{sid: "sid-9", provider: "google"}},
		{"RevokeSubBefore", func() error {
			return a.RevokeSubBefore(ctx, "google", "carol", clock.Now(), clock.Now().Add(time.Hour))
		}, revSession{provider: "google", sub: "carol", issued: start}},
	} {
		err := c.revoke()
		if !errors.Is(err, errRevocationNotRecorded) || !errors.Is(err, errStorageDown) {
			t.Errorf("%s with storage down returned %v", c.name, err)
		}
		if !c.s.revokedBy(a) {
			t.Errorf("%s with storage down does not hold on its own instance", c.name)
		}
	}
	if _, err := a.SeenJTI(ctx, "google", "jti", clock.Now().Add(time.Minute)); !errors.Is(err, errStorageDown) {
		t.Errorf("SeenJTI with storage down returned %v", err)
	}

	storage.down.Store(false)
	b.refreshLogged(ctx)
	b.refreshLogged(ctx)
	if n := logs.FilterMessageSnippet("read from storage again").Len(); n != 1 {
		t.Errorf("%d recovery messages, want 1", n)
	}
	storage.down.Store(true)
	b.refreshLogged(ctx)
	if n := logs.FilterMessageSnippet("cannot read session revocations").Len(); n != 2 {
		t.Errorf("%d warnings after a second streak of failures, want 2", n)
	}
	for _, e := range logs.All() {
		if strings.Contains(fmt.Sprint(e.Context), "carol") {
			t.Errorf("a log entry names a sub: %v", e)
		}
	}
}

// TestRevocationsTicker checks that the background refresher does run: a
// revocation made on one instance reaches another started with a short
// interval, without calling refresh.
func TestRevocationsTicker(t *testing.T) {
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	a := newRevocations(storage, revTestPrefix, nil)
	b := newRevocations(storage, revTestPrefix, nil)
	b.interval = 10 * time.Millisecond
	b.Start(t.Context())
	defer b.Stop()
	id := newSessionID(t)
	mustNot(t, a.RevokeSession(t.Context(), id, time.Now().Add(time.Hour)))
	deadline := time.Now().Add(10 * time.Second)
	for !b.Revoked(id, "", "", "", time.Time{}) {
		if time.Now().After(deadline) {
			t.Fatal("the refresher did not bring in the revocation within 10 s")
		}
		time.Sleep(5 * time.Millisecond) // polling, not synchronisation
	}
}

// TestSeenJTI checks logout token replay detection across instances and
// under concurrent delivery of one token.
func TestSeenJTI(t *testing.T) {
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	rs := newTestRevocations(t, storage, &revClock{t: time.Now()}, 2)
	ctx := t.Context()
	exp := time.Now().Add(5 * time.Minute)
	for _, c := range []struct {
		name     string
		r        *revocations
		provider string
		jti      string
		replayed bool
	}{
		{"first delivery", rs[0], "google", "jti-1", false},
		{"replay on the same instance", rs[0], "google", "jti-1", true},
		{"replay on another instance", rs[1], "google", "jti-1", true},
		{"another jti", rs[1], "google", "jti-2", false},
		{"the same jti from another provider", rs[1], "okta", "jti-1", false},
	} {
		replayed, err := c.r.SeenJTI(ctx, c.provider, c.jti, exp)
		if err != nil || replayed != c.replayed {
			t.Errorf("%s: replayed %v, %v; want %v", c.name, replayed, err, c.replayed)
		}
	}
	// One token delivered to three instances at once: exactly one sees it first.
	var wg sync.WaitGroup
	var firsts atomic.Int32
	for i := range 3 {
		r := rs[i%2]
		wg.Go(func() {
			replayed, err := r.SeenJTI(ctx, "google", "jti-concurrent", exp)
			if err != nil {
				t.Error(err)
			}
			if !replayed {
				firsts.Add(1)
			}
		})
	}
	wg.Wait()
	if firsts.Load() != 1 {
		t.Errorf("%d deliveries of one token were taken as first, want 1", firsts.Load())
	}
}

// TestRevocationsConcurrent revokes, refreshes and checks from many
// goroutines at once (run it with -race) and checks nothing was lost.
func TestRevocationsConcurrent(t *testing.T) {
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	rs := newTestRevocations(t, storage, &revClock{t: time.Now()}, 2)
	ctx := t.Context()
	const writers, each = 4, 50
	ids := make([][16]byte, writers*each)
	for i := range ids {
		ids[i] = newSessionID(t)
	}
	var wg sync.WaitGroup
	var stop atomic.Bool
	for w := range writers {
		wg.Go(func() {
			for i := w * each; i < (w+1)*each; i++ {
				if err := rs[w%2].RevokeSession(ctx, ids[i], time.Now().Add(time.Hour)); err != nil {
					t.Error(err)
				}
				if i%10 == 0 {
					if err := rs[w%2].RevokeSID(ctx, "google", fmt.Sprint("sid-", i), time.Now().Add(time.Hour)); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	var readers sync.WaitGroup
	for r := range 2 {
		readers.Go(func() {
			for !stop.Load() {
				rs[r].Revoked(ids[0], "sid-0", "google", "alice", time.Now())
			}
		})
		readers.Go(func() {
			for !stop.Load() {
				if err := rs[r].refresh(ctx); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	stop.Store(true)
	readers.Wait()
	for i, r := range rs {
		mustNot(t, r.refresh(ctx))
		for j, id := range ids {
			if !r.Revoked(id, "", "", "", time.Time{}) {
				t.Fatalf("instance %d lost the revocation of session %d", i, j)
			}
		}
		if !r.Revoked([16]byte{}, "sid-40", "google", "", time.Time{}) {
			t.Errorf("instance %d lost a sid revocation", i)
		}
	}
}

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

// BenchmarkRevocationRefresh measures refreshes of a FileStorage holding
// 100,000 revocations in 24 closed buckets and 1,000 in the current
// one. start: a new instance's first refresh, which lists and parses every
// key (it scales with the number of revocations); steady: a later refresh
// between sweeps, which lists only the open bucket (it scales with the
// revocations of the last minutes, not with the total).
func BenchmarkRevocationRefresh(b *testing.B) {
	now := time.Date(2026, 11, 30, 10, 20, 0, 0, time.UTC)
	storage := &certmagic.FileStorage{Path: b.TempDir()}
	until := now.Add(30 * 24 * time.Hour).Unix()
	write := func(hour time.Time, n int) {
		dir := storage.Filename(path.Join(revTestPrefix, "written", bucketName(hour)))
		mustNot(b, os.MkdirAll(dir, 0o700))
		for range n {
			id := newSessionID(b)
			mustNot(b, os.WriteFile(filepath.Join(dir, fmt.Sprintf("id.%x.%d", id, until)), []byte{'1'}, 0o600))
		}
	}
	for h := 2; h < 26; h++ {
		write(now.Add(-time.Duration(h)*time.Hour), 100_000/24)
	}
	write(now, 1000)
	newAt := func() *revocations {
		r := newRevocations(storage, revTestPrefix, nil)
		r.now = func() time.Time { return now }
		return r
	}
	b.Run("start", func(b *testing.B) {
		for b.Loop() {
			mustNot(b, newAt().refresh(b.Context()))
		}
	})
	b.Run("steady", func(b *testing.B) {
		r := newAt()
		mustNot(b, r.refresh(b.Context()))
		for b.Loop() {
			mustNot(b, r.refresh(b.Context()))
		}
	})
}

// TestRevocationsRefreshLists checks what a refresh lists: between sweeps
// only the buckets around now, never the list of all buckets;
// a bucket written far from now (an instance whose clock is hours off) is
// found at the next sweep.
func TestRevocationsRefreshLists(t *testing.T) {
	start := time.Date(2026, 11, 30, 10, 20, 0, 0, time.UTC)
	clock, behind := &revClock{t: start}, &revClock{t: start.Add(-3 * time.Hour)}
	storage := &flakyStorage{Storage: &certmagic.FileStorage{Path: t.TempDir()}}
	a := newTestRevocations(t, storage, behind, 1)[0]
	b := newTestRevocations(t, storage, clock, 1)[0]
	ctx := context.Background()
	written := path.Join(revTestPrefix, "written")
	mustNot(t, b.refresh(ctx)) // the first refresh sweeps
	if storage.listed(written) != 1 {
		t.Fatalf("the first refresh listed the buckets %d times, want 1", storage.listed(written))
	}
	skewed := newSessionID(t)
	mustNot(t, a.RevokeSession(ctx, skewed, start.Add(time.Hour)))
	for range 5 {
		clock.Add(time.Second)
		mustNot(t, b.refresh(ctx))
	}
	if storage.listed(written) != 1 {
		t.Errorf("refreshes between sweeps listed all buckets %d times", storage.listed(written)-1)
	}
	if b.Revoked(skewed, "", "", "", time.Time{}) {
		t.Error("a bucket three hours old was listed between sweeps (the test's premise is wrong)")
	}
	clock.Add(revocationSweep)
	mustNot(t, b.refresh(ctx))
	if !b.Revoked(skewed, "", "", "", time.Time{}) {
		t.Error("the sweep did not find a bucket written by an instance whose clock is off")
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

// TestRevocationNameParse checks which key names the refresher takes as
// revocations: anything else in a bucket (a backend's temporary file, a
// name from a later version) is skipped.
func TestRevocationNameParse(t *testing.T) {
	h := strings.Repeat("ab", 16)
	for _, c := range []struct {
		name  string
		until int64 // 0: not a revocation
		kind  string
	}{
		{"id." + h + ".1700000000", 1700000000, "id"},
		{"sid." + h + ".1700000001", 1700000001, "sid"},
		{"sub." + h + ".1690000000.1700000002", 1700000002, "sub"},
		{"id." + h, 0, ""},
		{"id." + h + ".17x", 0, ""},
		{"id." + h + ".1.2", 0, ""},
		{"sub." + h + ".1", 0, ""},
		{"sub." + h + ".1.2.3", 0, ""},
		{"id." + h[:30] + ".1700000000", 0, ""},
		{"id." + strings.Repeat("zz", 16) + ".1700000000", 0, ""},
		{"xid." + h + ".1700000000", 0, ""},
		{".id." + h + ".1700000000.tmp12345", 0, ""},
		{"", 0, ""},
	} {
		var a revocationAdds
		until, ok := a.parse(c.name)
		got := ""
		switch {
		case len(a.ids) == 1:
			got = "id"
		case len(a.sids) == 1:
			got = "sid"
		case len(a.subs) == 1:
			got = "sub"
			if a.subs[0].val.before != 1690000000 {
				t.Errorf("%q: before %d", c.name, a.subs[0].val.before)
			}
		}
		if ok != (c.until != 0) || until != c.until || got != c.kind {
			t.Errorf("%q: parsed as %q until %d (%v), want %q until %d", c.name, got, until, ok, c.kind, c.until)
		}
	}
}
