package stauth

// makeRoom keeps a cache map under limit entries before one more is added:
// the entries expired says are gone go first, then arbitrary ones down to
// nine tenths of limit, so that a full cache is not swept at every insert.
// The caches of refresh outcomes, verified bearer tokens, upstream JWTs and
// Streamlit cookies stay bounded whatever the traffic.
func makeRoom[K comparable, V any](m map[K]V, limit int, expired func(V) bool) {
	if len(m) < limit {
		return
	}
	for k, v := range m {
		if expired(v) {
			delete(m, k)
		}
	}
	for k := range m {
		if len(m) < limit-limit/10 {
			return
		}
		delete(m, k)
	}
}
