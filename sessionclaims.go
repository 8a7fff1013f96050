package stauth

import (
	"slices"
	"unsafe"
)

// claimTable is the session's claims table, inflated once when it is
// deflated.
func (sess *session) claimTable() string {
	if !sess.claimsDeflated {
		return sess.claims
	}
	sess.inflateOnce.Do(func() {
		b := inflate(sess.claims, maxClaimsSize)
		sess.inflated = unsafe.String(unsafe.SliceData(b), len(b))
	})
	return sess.inflated
}

// claimText is the placeholder text of one claim of the table (not sub,
// email or email_verified, which the session keeps apart): "" when absent.
// It decodes nothing else, and allocates only to render a GUID list or a
// mixed list.
func (sess *session) claimText(name string) string {
	c, _ := findClaim(sess.claimTable(), name)
	return c.text()
}

// claimIsOneOf tells whether the claim name, or one item of it when it is a
// list, is one of values: what allow_claim asks of every request, as
// claimHolds tells it of the decoded claims.
func (sess *session) claimIsOneOf(name string, values []string) bool {
	switch name {
	case "sub":
		return slices.Contains(values, sess.sub)
	case "email":
		return sess.email != "" && slices.Contains(values, sess.email)
	case "email_verified":
		return sess.emailVerified != "" && slices.Contains(values, sess.emailVerified)
	}
	c, ok := findClaim(sess.claimTable(), name)
	return ok && c.holds(values)
}
