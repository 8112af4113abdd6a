//go:build !unix

package index

// dirLock is a no-op where flock(2) is missing: badger's own directory lock
// still refuses a second user, with a less specific error.
type dirLock struct{}

func lockDir(string) (*dirLock, error) { return &dirLock{}, nil }

func (*dirLock) release() {}
