package emulator

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"
)

// maxHeaderBytes bounds request headers; larger ones get 431 from net/http.
const maxHeaderBytes = 64 << 10

// Running is an emulator serving HTTP on a listener, made by Start.
type Running struct {
	URL    string  // "http://127.0.0.1:PORT", no trailing slash
	Server *Server // the handler, for its token, counters and clock

	srv      *http.Server
	stopOnce sync.Once
	stopErr  error
	stopped  chan struct{}
	served   chan struct{} // closed when Serve has returned
}

// Start makes a Server with o and serves it on addr ("127.0.0.1:0" picks a
// free port) until Stop is called or ctx is done. Request headers are
// limited to 64 KiB.
func Start(ctx context.Context, addr string, o Options) (*Running, error) {
	s, err := New(o)
	if err != nil {
		return nil, err
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	r := &Running{
		URL:    "http://" + ln.Addr().String(),
		Server: s,
		srv: &http.Server{
			Handler:           s,
			MaxHeaderBytes:    maxHeaderBytes,
			ReadHeaderTimeout: 30 * time.Second,
		},
		stopped: make(chan struct{}),
		served:  make(chan struct{}),
	}
	go func() {
		defer close(r.served)
		_ = r.srv.Serve(ln) // returns http.ErrServerClosed after Stop
	}()
	go func() {
		select {
		case <-ctx.Done():
			_ = r.Stop()
		case <-r.stopped:
		}
	}()
	return r, nil
}

// Stop stops serving: it waits up to 5 seconds for requests in flight, then
// closes remaining connections, and closes the Server. Later calls return
// the first call's result.
func (r *Running) Stop() error {
	r.stopOnce.Do(func() {
		close(r.stopped)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := r.srv.Shutdown(ctx)
		if errors.Is(err, context.DeadlineExceeded) {
			err = r.srv.Close()
		}
		<-r.served
		r.stopErr = errors.Join(err, r.Server.Close())
	})
	return r.stopErr
}
