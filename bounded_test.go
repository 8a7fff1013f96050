package stauth

import "testing"

// TestMakeRoom: a full cache loses its expired entries first, then others
// down to nine tenths of its limit; a cache with room is not touched.
func TestMakeRoom(t *testing.T) {
	m := map[int]bool{}
	for i := range 100 {
		m[i] = i%4 == 0 // every fourth is expired
	}
	makeRoom(m, 200, func(expired bool) bool { return expired })
	if len(m) != 100 {
		t.Fatalf("a cache with room lost entries: %d left", len(m))
	}
	makeRoom(m, 100, func(expired bool) bool { return expired })
	for _, expired := range m {
		if expired {
			t.Fatal("an expired entry survived")
		}
	}
	if len(m) != 75 {
		t.Fatalf("%d entries left, want the 75 live ones (under 90)", len(m))
	}
	makeRoom(m, 50, func(bool) bool { return false })
	if len(m) >= 45 {
		t.Fatalf("%d entries left, want under nine tenths of 50", len(m))
	}
}
