package main

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/chatfs/chatfs/internal/sdnotify"
	"github.com/chatfs/chatfs/mount"
)

// statusEvery is how often a Type=notify service's STATUS= is refreshed.
const statusEvery = 10 * time.Second

// notifyReady tells a service manager (systemd Type=notify) that the
// mount is live, and keeps its STATUS= line up to date with the queue
// until the returned stop is called; stop says STOPPING=1. Without
// $NOTIFY_SOCKET it does nothing.
func notifyReady(m *mount.Mount, log *slog.Logger) (stop func()) {
	sent, err := sdnotify.Notify(sdnotify.Ready, sdnotify.Status(queueLine(m)))
	if err != nil {
		log.Warn("could not tell the service manager the mount is ready", "err", err)
	}
	if !sent {
		return func() {}
	}
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(statusEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_, _ = sdnotify.Notify(sdnotify.Status(queueLine(m)))
			}
		}
	}()
	return func() {
		close(done)
		<-exited
		_, _ = sdnotify.Notify(sdnotify.Stopping, sdnotify.Status("stopping: finishing uploads in flight; "+queueLine(m)))
	}
}

// queueLine sums up each app's queues: "demo: 2 waiting, 1 uploading, 0
// failed (send/: 1 waiting, 0 uploading, 0 sending, 0 failed)".
func queueLine(m *mount.Mount) string {
	var parts []string
	for _, a := range m.Apps {
		w, u, f, err := m.Index.Counts(a.Name())
		if err != nil {
			parts = append(parts, a.Name()+": queue unreadable")
			continue
		}
		line := fmt.Sprintf("%s: %d waiting, %d uploading, %d failed", a.Name(), w, u, f)
		if a.Sendbox() != nil {
			if s, err := m.SendCounts(a.Name()); err == nil {
				line += fmt.Sprintf(" (send/: %d waiting, %d uploading, %d sending, %d failed)", s.Waiting, s.Uploading, s.Sending, s.Failed)
			} else {
				line += " (send/: queue unreadable)"
			}
		}
		parts = append(parts, line)
	}
	return "mounted on " + m.Mountpoint() + "; " + strings.Join(parts, "; ")
}
