package fs

import (
	"sync"

	gofs "github.com/hanwen/go-fuse/v2/fs"
)

// invalidator tells the kernel to drop directory entries it may keep for
// good (a forgotten file's by-name/ link, say), from a goroutine of its
// own: the kernel takes the directory's lock to drop an entry, and may
// hold that lock, or another it takes first (a rename locks both
// folders), while it waits for the very request that would ask inline.
type invalidator struct {
	wake chan struct{} // has a value when pending may be non-empty
	quit chan struct{} // closed by stop
	done chan struct{} // closed when run returns

	mu      sync.Mutex
	pending []entryRef // GUARDED_BY(mu)
}

type entryRef struct {
	dir  *gofs.Inode
	name string
}

// newInvalidator starts an invalidator; stop ends it.
func newInvalidator() *invalidator {
	v := &invalidator{wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	go v.run()
	return v
}

// entry asks for dir/name to be dropped from the kernel's cache soon.
func (v *invalidator) entry(dir *gofs.Inode, name string) {
	v.mu.Lock()
	v.pending = append(v.pending, entryRef{dir, name})
	v.mu.Unlock()
	select {
	case v.wake <- struct{}{}:
	default:
	}
}

func (v *invalidator) run() {
	defer close(v.done)
	for {
		select {
		case <-v.quit:
			return
		case <-v.wake:
		}
		v.mu.Lock()
		todo := v.pending
		v.pending = nil
		v.mu.Unlock()
		for _, e := range todo {
			// ENOENT: the kernel holds no such entry. Any other failure
			// (unmounted) leaves nothing to invalidate.
			_ = e.dir.NotifyEntry(e.name)
		}
	}
}

// stop ends the goroutine and waits for it; call it once the FUSE server
// has stopped, so no notification waits on a kernel that is gone.
func (v *invalidator) stop() {
	close(v.quit)
	<-v.done
}
