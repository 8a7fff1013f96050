package stauth

import (
	"sync"
	"testing"
	"time"

	"github.com/stauth/caddy-stauth/internal/testcaddy"
)

// TestMain keeps the Caddy instances of the tests from writing into the real
// home directory.
func TestMain(m *testing.M) { testcaddy.Main(m, "stauth-test") }

// testClock is a clock a test moves by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

// newTestClock returns a clock at the current time.
func newTestClock() *testClock { return &testClock{t: time.Now()} }

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// advance moves the clock on by d.
func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
