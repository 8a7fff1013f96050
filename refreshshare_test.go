package stauth

import (
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
	"golang.org/x/oauth2"
)

// newTestSharedRefresh is one instance's shared refresher over storage.
func newTestSharedRefresh(t *testing.T, storage certmagic.Storage) *sharedRefresh {
	t.Helper()
	sl, err := newSealer([]string{atkCookieSecret}, purposeRefreshResult, "http://localhost:1")
	if err != nil {
		t.Fatal(err)
	}
	return &sharedRefresh{storage: storage, sealer: sl, logger: zap.NewNop(), now: time.Now}
}

// TestSharedRefresh: two instances renewing the same session at once over
// a shared storage make one refresh at the provider and get the same
// tokens; the storage holds them sealed, never in clear.
func TestSharedRefresh(t *testing.T) {
	dir := t.TempDir()
	storage := &certmagic.FileStorage{Path: dir}
	replicas := []*sharedRefresh{newTestSharedRefresh(t, storage), newTestSharedRefresh(t, &certmagic.FileStorage{Path: dir})}
	key := sha256.Sum256([]byte("refresh-token-1"))
	var calls atomic.Int32
	call := func() (refreshOutcome, error) {
		n := calls.Add(1)
		token := (&oauth2.Token{AccessToken: "access-secret-" + string(rune('0'+n)), RefreshToken: "rotated-secret", Expiry: time.Now().Add(time.Hour)}).
			WithExtra(map[string]any{"id_token": "id-token-secret"})
		return refreshOutcome{verdict: refreshDone, token: token}, nil
	}
	got := make([]refreshOutcome, len(replicas))
	var wg sync.WaitGroup
	for i, r := range replicas {
		wg.Go(func() {
			out, err := r.do(context.Background(), key, call)
			if err != nil {
				t.Error(err)
			}
			got[i] = out
		})
	}
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d refreshes at the provider for two concurrent renewals, want 1", n)
	}
	for i, out := range got {
		if out.verdict != refreshDone || out.token.AccessToken != "access-secret-1" || out.token.RefreshToken != "rotated-secret" || out.token.Extra("id_token") != "id-token-secret" {
			t.Fatalf("replica %d got %+v", i, out)
		}
	}
	err := filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err == nil && strings.Contains(string(data), "secret") {
			t.Errorf("%s holds a token in clear", path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("storage-down-refreshes-locally", func(t *testing.T) {
		blocked := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(blocked, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		r := newTestSharedRefresh(t, &certmagic.FileStorage{Path: blocked})
		before := calls.Load()
		out, _ := r.do(context.Background(), key, call)
		if calls.Load() != before+1 || out.verdict != refreshDone {
			t.Fatalf("with storage down: %d calls, verdict %v", calls.Load()-before, out.verdict)
		}
	})
}
