//go:build linux

package mount_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/chatfs/chatfs/config"
	"github.com/chatfs/chatfs/mount"
	"github.com/chatfs/chatfs/remote"
	"github.com/chatfs/chatfs/remote/emulator"
)

// benchFile puts a size-byte file on the server and returns a mount and the
// file's path in files/.
func benchFile(b *testing.B, size int, opts ...hopt) (*harness, *service, string) {
	svc := newService(b, emulator.Options{MaxSize: 200 << 20})
	// Downloads are bounded by the app's size limit: raise it to the
	// emulator's, as an app whose limit is higher would.
	opts = append([]hopt{func(_ *mount.Options, a *config.App) { a.MaxSize = 200 << 20 }}, opts...)
	h := newHarness(b, svc, "", opts...)
	data := randomBytes(b, size)
	res, err := svc.client(b, appID).Upload(context.Background(), remote.UploadRequest{Name: "b", File: bytes.NewReader(data), Size: int64(size)})
	require.NoError(b, err)
	return h, svc, h.path("files", res.UUID)
}

// readAll reads a file of the mount through, first dropping the kernel's
// page cache of it, so each read goes through FUSE (or passthrough).
func readAll(b *testing.B, path string, buf []byte) {
	f, err := os.Open(path)
	require.NoError(b, err)
	defer f.Close()
	require.NoError(b, unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED))
	for {
		_, err := f.Read(buf)
		if err == io.EOF {
			return
		}
		require.NoError(b, err)
	}
}

// BenchmarkReadCachedFile reads a 64 MiB file that is fully cached, served
// by FUSE passthrough (this kernel has it) or through chatfs's read path.
func BenchmarkReadCachedFile(b *testing.B) {
	b.Run("passthrough", func(b *testing.B) { benchReadCached(b) })
	b.Run("no-passthrough", func(b *testing.B) {
		benchReadCached(b, func(o *mount.Options, _ *config.App) { o.NoPassthrough = true })
	})
}

func benchReadCached(b *testing.B, opts ...hopt) {
	const size = 64 << 20
	_, _, path := benchFile(b, size, opts...)
	buf := make([]byte, 1<<20)
	readAll(b, path, buf) // fill the cache
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		readAll(b, path, buf)
	}
}

// BenchmarkReadFirstTime reads a 16 MiB file the mount has never seen:
// lookup, download from the emulator over loopback, and the read that
// follows it. Each iteration is a new uuid.
func BenchmarkReadFirstTime(b *testing.B) {
	const size = 16 << 20
	svc := newService(b, emulator.Options{MaxSize: 200 << 20})
	h := newHarness(b, svc, "", func(_ *mount.Options, a *config.App) { a.MaxSize = 200 << 20 })
	c := svc.client(b, appID)
	data := randomBytes(b, size)
	paths := make([]string, b.N)
	for i := range paths {
		res, err := c.Upload(context.Background(), remote.UploadRequest{Name: "b", File: bytes.NewReader(data), Size: size})
		require.NoError(b, err)
		paths[i] = h.path("files", res.UUID)
	}
	buf := make([]byte, 1<<20)
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		readAll(b, paths[i], buf)
	}
}

// BenchmarkUploadThroughMount copies a 4 MiB file into upload/ and waits
// until it is uploaded and listed in by-name/.
func BenchmarkUploadThroughMount(b *testing.B) {
	const size = 4 << 20
	svc := newService(b, emulator.Options{})
	h := newHarness(b, svc, "")
	data := randomBytes(b, size)
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		name := "u" + string(rune('a'+i%26)) + itoa(i)
		require.NoError(b, os.WriteFile(h.path("upload", name), data, 0o644))
		h.waitUploaded(name)
	}
}

func itoa(i int) string {
	return string([]byte{byte('0' + i/1000%10), byte('0' + i/100%10), byte('0' + i/10%10), byte('0' + i%10)})
}
