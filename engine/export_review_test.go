package engine

// CachedHeaders is how many HS* headers x's header cache holds, so that
// the review's differential test can tell that its warm exchangers really
// take the cached path.
func CachedHeaders(x *Exchanger) int { return int(x.headers.n.Load()) }
