package stauth

import (
	"reflect"
	"testing"
)

// TestChunkIndex: which part of a chunked cookie a name is.
func TestChunkIndex(t *testing.T) {
	for name, want := range map[string]int{
		"stauth_session": 0, "stauth_session_1": 1, "stauth_session_8": 8,
		"stauth_session_9": -1, "stauth_session_0": -1, "stauth_session_x": -1,
		"stauth_sessionx": -1, "other": -1, "stauth_session_": -1,
	} {
		if got := chunkIndex("stauth_session", name); got != want {
			t.Errorf("chunkIndex(%q) = %d, want %d", name, got, want)
		}
	}
}

// TestChunkNames: a value fits one cookie, or takes numbered chunks.
func TestChunkNames(t *testing.T) {
	for _, c := range []struct {
		size int
		want []string
	}{
		{10, []string{"s"}},
		{chunkSize, []string{"s"}},
		{chunkSize + 1, []string{"s_1", "s_2"}},
		{2*chunkSize + 1, []string{"s_1", "s_2", "s_3"}},
	} {
		if got := chunkNames("s", c.size); !reflect.DeepEqual(got, c.want) {
			t.Errorf("chunkNames(%d) = %v, want %v", c.size, got, c.want)
		}
	}
}

// TestScanCookies: every cookie of every Cookie line, quotes removed.
func TestScanCookies(t *testing.T) {
	h := requestWithCookies(`a=1; b="2"`, "c=3;d").Header
	var got []string
	scanCookies(h, func(name, value string) bool {
		got = append(got, name+"="+value)
		return true
	})
	if want := []string{"a=1", "b=2", "c=3", "d="}; !reflect.DeepEqual(got, want) {
		t.Fatalf("scanned %q, want %q", got, want)
	}
}
