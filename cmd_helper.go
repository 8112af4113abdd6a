package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/chatfs/chatfs/config"
)

// The mount(8) helper: "mount -t fuse.chatfs SOURCE MOUNTPOINT -o OPTS",
// and a line of /etc/fstab of that type, run
//
//	/sbin/mount.fuse.chatfs SOURCE MOUNTPOINT [-n] [-s] [-f] [-v] -o OPTS
//
// (a link to chatfs), or, without that link, fuse3's mount.fuse, which
// runs "chatfs SOURCE MOUNTPOINT -o OPTS". Either way chatfs checks the
// options as `chatfs mount` would, starts `chatfs mount` in the background
// (logging to LOG, default STATE/mount.log) and returns once the mount is
// live, as mount(8) expects.
const helperUsage = `usage: mount.fuse.chatfs SOURCE MOUNTPOINT [-o OPTIONS]

SOURCE is a config file (as --config), or any word (e.g. "chatfs") when
the options say everything. OPTIONS are chatfs mount's flags without
dashes ("_" may stand for "-"): config=FILE, state=DIR, host=URL,
token_file=FILE, cache_size=N, drain_timeout=D, metrics=ADDR,
allow_other, debug, ... and log=FILE (where the background mount logs;
default STATE/mount.log). Generic mount options (defaults, _netdev,
nofail, noauto, user, rw, nosuid, nodev, noatime, x-*) are accepted and
ignored.

/etc/fstab:
  /etc/chatfs/apps.toml  /srv/chatfs  fuse.chatfs  state=/var/lib/chatfs,allow_other,_netdev  0 0
`

// helperName reports whether chatfs was run as the mount(8) helper.
func helperName(argv0 string) bool {
	b := filepath.Base(argv0)
	return b == "mount.fuse.chatfs" || b == "mount.chatfs"
}

// helperArgs reports whether args look like fuse3's mount.fuse running
// chatfs: "SOURCE MOUNTPOINT -o OPTS", SOURCE not a command.
func helperArgs(args []string) bool {
	return len(args) >= 4 && args[2] == "-o" && !strings.HasPrefix(args[0], "-")
}

// ignoredOptions are mount(8)'s and fstab's own options.
var ignoredOptions = map[string]bool{
	"defaults": true, "rw": true, "auto": true, "noauto": true, "user": true, "nouser": true,
	"users": true, "owner": true, "group": true, "nofail": true, "_netdev": true, "dev": true, "nodev": true,
	"suid": true, "nosuid": true, "exec": true, "noexec": true, "atime": true, "noatime": true,
	"relatime": true, "nodiratime": true, "lazytime": true, "async": true, "default_permissions": true,
}

// pathOptions name files or folders: made absolute, since the background
// mount runs in / (so that it keeps no other file system busy).
var pathOptions = map[string]bool{"config": true, "state": true, "token-file": true, "app-certificate-file": true, "client-secret-file": true}

// absPath is p made absolute (p itself if that fails).
func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// helperMountArgs turns the helper's command line into `chatfs mount`'s,
// and the log file's path ("" when log= is not given). fake: -f, do
// nothing.
func helperMountArgs(args []string) (mountArgv []string, logFile string, fake bool, err error) {
	var pos, opts []string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-o":
			if i+1 == len(args) {
				return nil, "", false, errors.New("-o needs options")
			}
			i++
			opts = append(opts, strings.Split(args[i], ",")...)
		case strings.HasPrefix(a, "-o"):
			opts = append(opts, strings.Split(a[2:], ",")...)
		case a == "-f":
			fake = true
		case a == "-n", a == "-s", a == "-v":
		case strings.HasPrefix(a, "-"):
			return nil, "", false, fmt.Errorf("unknown option %s", a)
		default:
			pos = append(pos, a)
		}
	}
	if len(pos) != 2 {
		return nil, "", false, errors.New("want SOURCE and MOUNTPOINT")
	}
	source, mnt := pos[0], pos[1]
	if fi, err := os.Stat(source); err == nil && fi.Mode().IsRegular() {
		mountArgv = append(mountArgv, "--config="+absPath(source))
	}
	for _, o := range opts {
		key, value, hasValue := strings.Cut(o, "=")
		key = strings.ReplaceAll(key, "_", "-")
		switch {
		case o == "" || ignoredOptions[o] || strings.HasPrefix(o, "x-") || strings.HasPrefix(o, "comment="):
		case o == "ro":
			return nil, "", false, errors.New("chatfs mounts are read-write: remove the option ro")
		case key == "log" && hasValue:
			logFile = absPath(value)
		case pathOptions[key] && hasValue:
			mountArgv = append(mountArgv, "--"+key+"="+absPath(value))
		case key == "fsname" || key == "subtype":
		case hasValue:
			mountArgv = append(mountArgv, "--"+key+"="+value)
		default:
			mountArgv = append(mountArgv, "--"+key)
		}
	}
	return append(mountArgv, absPath(mnt)), logFile, fake, nil
}

// runHelper mounts as mount(8) asks: it checks the options, starts
// `chatfs mount` in the background and waits until the mount is live
// (its READY=1 on a notify socket of our own) or has failed.
func runHelper(args []string, stdout, stderr io.Writer) int {
	if len(args) == 1 && (args[0] == "-h" || args[0] == "--help") {
		fmt.Fprint(stdout, helperUsage)
		return 0
	}
	argv, logFile, fake, err := helperMountArgs(args)
	if err != nil {
		fmt.Fprintf(stderr, "mount.fuse.chatfs: %v\n\n%s", err, helperUsage)
		return 1
	}
	p, err := parseMount(argv, stderr)
	if err != nil {
		if !errors.Is(err, errUsage) {
			fmt.Fprintf(stderr, "mount.fuse.chatfs: %v\n", err)
		}
		return 1
	}
	if fake {
		return 0
	}
	if logFile == "" {
		dirs, err := config.StateDirs(p.cfg.State)
		if err == nil {
			err = dirs.MakeDirs()
		}
		if err != nil {
			fmt.Fprintf(stderr, "mount.fuse.chatfs: %v\n", err)
			return 1
		}
		logFile = filepath.Join(dirs.Data, "mount.log")
	}
	if err := startDaemon(argv, logFile, 2*time.Minute); err != nil {
		fmt.Fprintf(stderr, "mount.fuse.chatfs: %v\n", err)
		return 1
	}
	return 0
}

// startDaemon runs `chatfs mount ARGV` in a session of its own, logging to
// logFile, and returns once it says READY=1 (nil), exits, or timeout
// passes (it is then stopped).
func startDaemon(argv []string, logFile string, timeout time.Duration) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	log, err := os.OpenFile(logFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("log: %w", err)
	}
	defer log.Close()
	start, _ := log.Seek(0, io.SeekEnd)
	dir, err := os.MkdirTemp("", "chatfs-notify-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	sock, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: filepath.Join(dir, "notify"), Net: "unixgram"})
	if err != nil {
		return err
	}
	defer sock.Close()

	cmd := exec.Command(exe, append([]string{"mount"}, argv...)...)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+filepath.Join(dir, "notify"))
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	ready := make(chan struct{})
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := sock.Read(buf)
			if err != nil {
				return // closed when we return
			}
			for _, line := range strings.Split(string(buf[:n]), "\n") {
				if line == "READY=1" {
					close(ready)
					return
				}
			}
		}
	}()
	select {
	case <-ready:
		return nil // the mount runs on, in the background
	case err := <-exited:
		return fmt.Errorf("chatfs mount failed (%v); its log (%s) says:\n%s", err, logFile, logSince(logFile, start))
	case <-time.After(timeout):
		_ = cmd.Process.Signal(syscall.SIGTERM)
		<-exited
		return fmt.Errorf("the mount was not live after %v; its log (%s) says:\n%s", timeout, logFile, logSince(logFile, start))
	}
}

// logSince is what was logged to file from offset on (its last 4 KiB).
func logSince(file string, off int64) string {
	b, err := os.ReadFile(file)
	if err != nil || int64(len(b)) < off {
		return ""
	}
	b = b[off:]
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return string(b)
}
