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
func newTestRevocations(t *testing.T, storage certmagic.Storage, clock *testClock, n int) []*revocations {
	t.Helper()
	rs := make([]*revocations, n)
	for i := range rs {
		rs[i] = newRevocations(storage, revTestPrefix, zap.NewNop())
		rs[i].now = clock.now
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
			clock := &testClock{t: start}
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
			clock.advance(time.Second)
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
	clock := &testClock{t: T}
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
	clock.advance(time.Second)
	if err := rs[1].refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i, r := range rs {
		if !r.Revoked(newSessionID(t), "", "google", "alice", T.Add(time.Hour)) {
			t.Errorf("instance %d: a session issued before the later marker is accepted", i)
		}
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
	clock := &testClock{t: start}
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
		clock.advance(revocationSweep) // sweeps too
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
		{"RevokeSession", func() error { return a.RevokeSession(ctx, fresh, clock.now().Add(time.Hour)) },
			revSession{id: fresh}},
		{"RevokeSID", func() error { return a.RevokeSID(ctx, "google", "sid-9", clock.now().Add(time.Hour)) },
			revSession{sid: "sid-9", provider: "google"}},
		{"RevokeSubBefore", func() error {
			return a.RevokeSubBefore(ctx, "google", "carol", clock.now(), clock.now().Add(time.Hour))
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
	if _, err := a.SeenJTI(ctx, "google", "jti", clock.now().Add(time.Minute)); !errors.Is(err, errStorageDown) {
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

// TestSeenJTI checks logout token replay detection across instances and
// under concurrent delivery of one token.
func TestSeenJTI(t *testing.T) {
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	rs := newTestRevocations(t, storage, &testClock{t: time.Now()}, 2)
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
	rs := newTestRevocations(t, storage, &testClock{t: time.Now()}, 2)
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
