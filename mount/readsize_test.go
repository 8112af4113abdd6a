//go:build linux

package mount_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/remote"
	"github.com/chatfs/chatfs/remote/emulator"
)

// Reads reach chatfs 512 KiB at a time: the mount's max_read says so, and
// files/ entries report it as their block size, which cat and cp use as
// their read size.
func TestReadsAreLarge(t *testing.T) {
	svc := newService(t, emulator.Options{})
	h := newHarness(t, svc, "")
	data := randomBytes(t, 3<<20)
	res, err := svc.client(t, appID).Upload(context.Background(), remote.UploadRequest{Name: "big.bin", File: bytes.NewReader(data), Size: int64(len(data))})
	require.NoError(t, err)

	var st syscall.Stat_t
	require.NoError(t, syscall.Stat(h.path("files", res.UUID), &st))
	assert.Equal(t, int64(512<<10), int64(st.Blksize))

	mounts, err := os.ReadFile("/proc/self/mounts")
	require.NoError(t, err)
	var line string
	for _, l := range strings.Split(string(mounts), "\n") {
		if strings.Contains(l, " "+h.mnt+" ") {
			line = l
		}
	}
	assert.Contains(t, line, "max_read=524288")

	got, err := os.ReadFile(h.path("files", res.UUID))
	require.NoError(t, err)
	assert.True(t, bytes.Equal(data, got), "the bytes read in large requests are the bytes uploaded")
}
