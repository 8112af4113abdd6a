//go:build linux

package mount_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/chatfs/chatfs/config"
	"github.com/chatfs/chatfs/mount"
	"github.com/chatfs/chatfs/remote"
	"github.com/chatfs/chatfs/remote/emulator"
)

// Environment of a child process that serves a mount until it is killed.
const (
	envChild      = "CHATFS_TEST_CHILD_MOUNT"
	envChildMnt   = "CHATFS_TEST_CHILD_MNT"
	envChildState = "CHATFS_TEST_CHILD_STATE"
	envChildHost  = "CHATFS_TEST_CHILD_HOST"
	// envChildHistory, set, is the child's history window (off otherwise).
	envChildHistory = "CHATFS_TEST_CHILD_HISTORY"
)

func TestMain(m *testing.M) {
	if os.Getenv(envChild) != "" {
		os.Exit(childMount())
	}
	if op := os.Getenv(envAsOther); op != "" {
		os.Exit(asOther(op, os.Args[1:]))
	}
	// A goroutine of a mount that outlives the tests (an uploader, a fill,
	// a probe, an idle connection) fails them.
	goleak.VerifyTestMain(m)
}

// childMount serves a mount until killed; it prints READY once live. Its
// token comes from CHATFS_TOKEN, never the command line.
func childMount() int {
	dirs, err := config.StateDirs(os.Getenv(envChildState))
	if err != nil {
		fmt.Println("ERROR", err)
		return 1
	}
	tokens, err := remote.TokenFromEnv()
	if err != nil {
		fmt.Println("ERROR", err)
		return 1
	}
	history := new(time.Duration)
	if w := os.Getenv(envChildHistory); w != "" {
		if *history, err = time.ParseDuration(w); err != nil {
			fmt.Println("ERROR", err)
			return 1
		}
	}
	m, err := mount.New(context.Background(), mount.Options{
		Mountpoint:  os.Getenv(envChildMnt),
		Dirs:        dirs,
		SettleDelay: 50 * time.Millisecond,
		Retry:       remote.RetryPolicy{MaxAttempts: 2, InitialBackoff: 10 * time.Millisecond, MaxElapsed: time.Second},
		Apps: []mount.App{{
			App:    config.App{Name: appID, Host: os.Getenv(envChildHost), AppID: appID, MaxSize: 10 << 20, History: history},
			Tokens: tokens,
		}},
	})
	if err != nil {
		fmt.Println("ERROR", err)
		return 1
	}
	fmt.Println("READY")
	m.Wait()
	return 0
}

// startChild starts a mount in a child process and waits until it is live.
func startChild(t *testing.T, mnt, state, host, token string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChild+"=1", envChildMnt+"="+mnt, envChildState+"="+state,
		envChildHost+"="+host, "CHATFS_TOKEN="+token)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		lazyUnmount(mnt)
	})
	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		ready <- strings.TrimSpace(line)
	}()
	select {
	case line := <-ready:
		require.Equal(t, "READY", line)
	case <-time.After(20 * time.Second):
		t.Fatal("child mount did not come up")
	}
	return cmd
}

// lazyUnmount detaches a mount whose server is dead.
func lazyUnmount(mnt string) {
	_ = syscall.Unmount(mnt, syscall.MNT_DETACH)
}

// closedPort returns a loopback URL on which nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	svc := newService(t, emulator.Options{})
	url := svc.url
	svc.srv.Close()
	return url
}

// TestKill9WithQueuedUploads: files closed in upload/ while the server is
// unreachable survive kill -9 of the mount and are uploaded, intact, by the
// next mount once the server is back.
func TestKill9WithQueuedUploads(t *testing.T) {
	requireFUSE(t)
	svc := newService(t, emulator.Options{})
	state, mnt := t.TempDir(), t.TempDir()
	child := startChild(t, mnt, state, closedPort(t), svc.emu.Token())

	want := map[string][]byte{}
	for i := 0; i < 12; i++ {
		name := fmt.Sprintf("queued-%02d.bin", i)
		data := randomBytes(t, 1000+i*37_000)
		p := filepath.Join(mnt, appID, "upload", name)
		if i%3 == 0 {
			require.NoError(t, os.MkdirAll(filepath.Join(mnt, appID, "upload", "sub"), 0o755))
			p = filepath.Join(mnt, appID, "upload", "sub", name)
			name = "sub/" + name // by-name/ keeps the folder
		}
		require.NoError(t, os.WriteFile(p, data, 0o644)) // close returned: durable
		want[name] = data
	}
	require.NoError(t, child.Process.Signal(syscall.SIGKILL))
	_, _ = child.Process.Wait()
	lazyUnmount(mnt)

	h := newHarness(t, svc, state)
	for name, data := range want {
		uuid := h.waitUploaded(name)
		got, err := os.ReadFile(h.path("files", uuid))
		require.NoError(t, err)
		assert.Equal(t, data, got, name)
	}
	assert.Equal(t, int64(len(want)), svc.emu.Stats().Uploads, "each file uploaded once")
	eventually(t, 5*time.Second, "upload/ to empty", func() bool {
		var files int
		_ = filepath.Walk(h.path("upload"), func(p string, info os.FileInfo, err error) error {
			if err == nil && info.Mode().IsRegular() {
				files++
			}
			return nil
		})
		return files == 0
	})
}
