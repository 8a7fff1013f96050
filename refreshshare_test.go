package stauth

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
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

// refreshOP is a minimal provider whose token endpoint answers refresh
// grants with rotated tokens and counts them.
type refreshOP struct {
	srv   *httptest.Server
	count atomic.Int32
}

// newRefreshOP starts a refreshOP until the test ends.
func newRefreshOP(t *testing.T) *refreshOP {
	t.Helper()
	op := &refreshOP{}
	mux := http.NewServeMux()
	op.srv = httptest.NewServer(mux)
	t.Cleanup(op.srv.Close)
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer": op.srv.URL, "authorization_endpoint": op.srv.URL + "/authorize", "token_endpoint": op.srv.URL + "/token",
			"jwks_uri": op.srv.URL + "/jwks", "id_token_signing_alg_values_supported": []string{"RS256"},
			"response_types_supported": []string{"code"},
		})
	})
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		if r.FormValue("grant_type") != "refresh_token" {
			http.Error(w, `{"error":"unsupported_grant_type"}`, http.StatusBadRequest)
			return
		}
		n := op.count.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": fmt.Sprintf("access-%d", n), "refresh_token": fmt.Sprintf("rotated-%d", n), "token_type": "Bearer", "expires_in": 3600})
	})
	return op
}

// TestSharedRefreshAtProvider: two refreshers (two instances) sharing a
// file storage renew the same session at once: the provider sees one
// refresh, and both sessions get its tokens. Without the shared storage,
// each would refresh.
func TestSharedRefreshAtProvider(t *testing.T) {
	for _, c := range []struct {
		name   string
		shared bool
		want   int32
	}{{"shared-storage", true, 1}, {"no-shared-storage", false, 2}} {
		t.Run(c.name, func(t *testing.T) {
			op := newRefreshOP(t)
			ctx := context.WithValue(context.Background(), oauth2.HTTPClient, newProviderClient())
			p := newProvider(ctx, providerConfig{name: "default", clientID: "c", clientSecret: "s", scope: "openid",
				metadataURL: op.srv.URL + "/.well-known/openid-configuration"}, false, zap.NewNop())
			dir := t.TempDir()
			got := make([]refreshOutcome, 2)
			var wg sync.WaitGroup
			for i := range got {
				rf := newRefresher()
				if c.shared {
					rf.shared = newTestSharedRefresh(t, &certmagic.FileStorage{Path: dir})
				}
				sess := &session{provider: "default", sub: "alice", refreshToken: "refresh-0", accessExpires: time.Now().Unix()}
				wg.Go(func() {
					out, err := rf.refresh(context.Background(), p, sess, time.Now())
					if err != nil {
						t.Error(err)
					}
					got[i] = out
				})
			}
			wg.Wait()
			if n := op.count.Load(); n != c.want {
				t.Fatalf("%d refreshes at the provider, want %d", n, c.want)
			}
			if c.shared && (got[0].verdict != refreshDone || got[1].verdict != refreshDone || got[0].token.AccessToken != got[1].token.AccessToken || got[1].token.RefreshToken != "rotated-1") {
				t.Fatalf("the two instances got %+v and %+v, want the same tokens", got[0].token, got[1].token)
			}
		})
	}
}
