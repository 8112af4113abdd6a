package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vbauerster/mpb/v8"

	"github.com/chatfs/chatfs/internal/control"
	"github.com/chatfs/chatfs/internal/testutil"
)

// TestDiffStatus: each change between two statuses is one event line.
func TestDiffStatus(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	prev := map[string]control.Upload{
		"d/a": {Path: "a", State: control.Waiting, Size: 3},
		"d/b": {Path: "b", State: control.Uploading},
		"d/c": {Path: "c", State: control.Uploading, Attempts: 0},
		"d/e": {Path: "e", State: control.Waiting},
		"d/f": {Path: "f", State: control.Uploading},
	}
	cur := map[string]control.Upload{
		"d/a": {Path: "a", State: control.Uploading, Size: 3},
		"d/c": {Path: "c", State: control.Waiting, Attempts: 1, NextRetry: now.Add(2 * time.Second), Error: "503\x1b"},
		"d/e": {Path: "e", State: control.Failed, Error: "413"},
		"d/f": {Path: "f", State: control.Uploading},
		"d/g": {Path: "g", State: control.Waiting, Size: 2048},
	}
	landed := map[string]control.Landed{"d/b": {UUID: "u-b"}, "d/h": {UUID: "u-h"}}
	var lines []string
	for _, e := range diffStatus(prev, cur, landed, now) {
		lines = append(lines, e.what+" "+e.key+" "+e.text)
	}
	assert.Equal(t, []string{
		"uploading d/a 3 bytes",
		`retry d/c 1 attempt failed, next try in 2s: "503\x1b"`,
		"failed d/e 413",
		"queued d/g 2.0 KiB",
		"landed d/b u-b",
		"landed d/h u-h",
	}, lines)
	sends := diffSends(
		map[string]control.Upload{"d/send/users/a/x": {State: control.Uploading}, "d/send/users/a/y": {State: control.Waiting}},
		map[string]control.Upload{"d/send/users/a/x": {State: control.Sending, Size: 1}},
		map[string]control.Landed{"d/send/users/a/z": {UUID: "u-z"}}, map[string]string{"d/send/users/a/z": "m\x1bz"}, now)
	lines = lines[:0]
	for _, e := range sends {
		lines = append(lines, e.what+" "+e.key+" "+e.text)
	}
	assert.Equal(t, []string{
		"sending d/send/users/a/x 1 bytes",
		"gone d/send/users/a/y left send/ without being sent",
		`sent d/send/users/a/z u-z "m\x1bz"`,
	}, lines)
	gone := diffStatus(map[string]control.Upload{"d/x": {}}, nil, nil, now)
	require.Len(t, gone, 1)
	assert.Equal(t, "gone", gone[0].what)
}

// TestStatusWatchLines: status --watch on a pipe prints a line per event
// of a live mount, and returns when interrupted.
func TestStatusWatchLines(t *testing.T) {
	mnt := t.TempDir()
	startCLIMount(t, mnt, "--state", t.TempDir(), "--settle", "100ms", "--max-size", "100")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := control.Dial(ctx, mnt)
	require.NoError(t, err)
	defer c.Close()
	var out testutil.SyncBuffer
	done := make(chan error, 1)
	go func() { done <- runWatch(ctx, c, &out) }()

	upload := filepath.Join(mnt, demoApp, "upload")
	require.NoError(t, os.WriteFile(filepath.Join(upload, "a.txt"), []byte("hello"), 0o644))
	require.Error(t, os.WriteFile(filepath.Join(upload, "big.bin"), make([]byte, 200), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(mnt, demoApp, "send", "users", "alice", "r.pdf"), []byte("%PDF-1.4\n"), 0o644))
	require.Error(t, os.WriteFile(filepath.Join(mnt, demoApp, "send", "users", "bob", "big.bin"), make([]byte, 200), 0o644))
	sentLine := regexp.MustCompile(`(?m)^sent demo/send/users/alice/r\.pdf [0-9a-f-]{36} \S+$`)
	waitFor(t, 20*time.Second, "the landings and the failures", func() bool {
		s := out.String()
		return strings.Contains(s, "landed demo/a.txt ") && strings.Contains(s, "failed demo/big.bin larger than") &&
			sentLine.MatchString(s) && strings.Contains(s, "failed demo/send/users/bob/big.bin larger than")
	})
	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not stop when interrupted")
	}
	assert.NotContains(t, out.String(), "gone ", out.String())
	assert.NotContains(t, out.String(), "\x1b", "no terminal codes on a pipe")
}

// TestWatchBars: a bar per upload in flight shows bytes sent of total; it
// completes when the file lands and goes when it stops otherwise.
func TestWatchBars(t *testing.T) {
	var out testutil.SyncBuffer
	p := mpb.New(mpb.WithOutput(&out), mpb.WithWidth(40), mpb.WithAutoRefresh())
	b := &barSet{p: p, bars: map[string]*trackedBar{}}
	up := func(sent int64) map[string]control.Upload {
		return map[string]control.Upload{
			"demo/a.bin": {Path: "a.bin", State: control.Uploading, Size: 4 << 20, Sent: sent},
			"demo/w.bin": {Path: "w.bin", State: control.Waiting, Size: 1},
		}
	}
	b.update(up(1<<20), nil)
	b.update(up(2<<20), nil)
	require.Len(t, b.bars, 1, "a bar for the upload in flight only")
	waitFor(t, 10*time.Second, "the bar drawn", func() bool {
		return strings.Contains(out.String(), "demo/a.bin") && strings.Contains(out.String(), "2.0 MiB / 4.0 MiB")
	})
	b.update(map[string]control.Upload{}, map[string]control.Landed{"demo/a.bin": {UUID: "u"}})
	assert.Empty(t, b.bars)
	p.Wait() // returns: every bar completed or aborted
}
