package control

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"sync"
)

// maxRequest bounds a request line.
const maxRequest = 1 << 20

// Server serves the control socket. Close stops it and waits for its
// goroutines.
type Server struct {
	// read only after Listen
	ln     *net.UnixListener
	path   string
	status func(Request) Status
	log    *slog.Logger
	wg     sync.WaitGroup

	mu     sync.Mutex
	conns  map[net.Conn]bool // open connections. GUARDED_BY(mu)
	closed bool              // GUARDED_BY(mu)
}

// Listen makes the socket at path (a stale one left by a crash is
// replaced; the state lock keeps a live mount from being there), 0600,
// and serves status, which must be safe for concurrent use.
func Listen(path string, status func(Request) Status, log *slog.Logger) (*Server, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("control socket: %s exists and is not a socket", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("control socket: %w", err)
		}
	}
	addr, closeDir, err := shortAddr(path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	defer closeDir()
	// The folder is the state directory (0700); the mode is set at once,
	// before anyone but its owner could reach it.
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: addr, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	ln.SetUnlinkOnClose(true)
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	s := &Server{ln: ln, path: path, status: status, log: log, conns: map[net.Conn]bool{}}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Path is the socket's path.
func (s *Server) Path() string { return s.path }

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			return // closed
		}
		if !samePeer(c) {
			c.Close()
			continue
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = true
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serve(c)
	}
}

// serve answers the requests of one connection until it closes.
func (s *Server) serve(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	sc := bufio.NewScanner(c)
	sc.Buffer(make([]byte, 4096), maxRequest)
	enc := json.NewEncoder(c)
	for sc.Scan() {
		var req Request
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil || req.Op != "status" {
			_ = enc.Encode(map[string]string{"error": "bad request: want {\"op\":\"status\"}"})
			return
		}
		if err := enc.Encode(s.status(req)); err != nil {
			return
		}
	}
}

// Close stops serving, closes every connection and waits for them; the
// socket file is removed.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	err := s.ln.Close()
	s.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}
