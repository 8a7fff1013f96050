package stauth

// Tests of the revocation store (issue 12) on a real certmagic.FileStorage:
// instances sharing one storage, "logged out before" markers, pruning with an
// injected clock, storage failures, logout token replay, concurrent use, and
// the mirror's memory and lookup cost at a million entries.

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
)

// TestRevocationsPrune moves the clock past the expiries and checks that
// expired revocations leave the mirror and the storage, live ones stay, and
// a closed bucket is listed once after closing and then no more.
func TestRevocationsPrune(t *testing.T) {
	start := time.Date(2026, 11, 30, 10, 20, 0, 0, time.UTC)
	clock := &testClock{t: start}
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
	clock.advance(2 * time.Hour) // a new bucket: written at 12:20
	mustNot(t, a.RevokeSession(ctx, long, clock.now().Add(8*time.Hour)))
	mustNot(t, b.refresh(ctx))
	oldBucket := path.Join(revTestPrefix, "written", bucketName(start))
	newBucket := path.Join(revTestPrefix, "written", bucketName(clock.now()))
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
	clock.advance(revocationBucket + revocationGrace + time.Second) // closed, entry still live
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
	clock.advance(8 * time.Hour)
	mustNot(t, a.refresh(ctx))
	mustNot(t, b.refresh(ctx))
	if storage.Exists(ctx, newBucket) || b.Revoked(long, "", "", "", time.Time{}) || a.Revoked(long, "", "", "", time.Time{}) {
		t.Error("an expired bucket stays after the sweep")
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
	clock, behind := &testClock{t: start}, &testClock{t: start.Add(-3 * time.Hour)}
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
		clock.advance(time.Second)
		mustNot(t, b.refresh(ctx))
	}
	if storage.listed(written) != 1 {
		t.Errorf("refreshes between sweeps listed all buckets %d times", storage.listed(written)-1)
	}
	if b.Revoked(skewed, "", "", "", time.Time{}) {
		t.Error("a bucket three hours old was listed between sweeps (the test's premise is wrong)")
	}
	clock.advance(revocationSweep)
	mustNot(t, b.refresh(ctx))
	if !b.Revoked(skewed, "", "", "", time.Time{}) {
		t.Error("the sweep did not find a bucket written by an instance whose clock is off")
	}
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
