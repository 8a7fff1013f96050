package stauth
func (s *Stauth) shareRefreshes(_ any) {}
