// Command chatfs mounts a chat application's file attachments (the Agora
// Chat / Shengwang IM / Easemob "chatfiles" API) as folders, and runs the
// chatfiles emulator. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

const usage = `chatfs mounts a chat app's file attachments as folders.

Usage:
  chatfs mount [flags] MOUNTPOINT   mount and serve until unmounted or interrupted
  chatfs serve [flags]              run the chatfiles emulator
  chatfs token [flags]              print a fresh app token (for scripts and curl)
  chatfs status [--json|--watch] MOUNTPOINT
                                    uploads and sends waiting, uploading and failed; cache use
  chatfs wait [--timeout D] MOUNTPOINT [PATH...]
                                    wait until files in upload/ and send/ have landed; print "PATH UUID [MSG_ID]"
  chatfs export [--state DIR]       every file record (uuid, name, url, share-secret) as JSON lines
  chatfs repair [--state DIR]       rebuild a damaged index from its record log

  chatfs help [COMMAND]             this, or a command's arguments and flags
  chatfs --version                  version and VCS revision

Run "chatfs help COMMAND" (or "chatfs COMMAND -h") for a command's arguments and flags.
As mount(8)'s helper (/sbin/mount.fuse.chatfs linked to chatfs): mount.fuse.chatfs --help.
`

func main() {
	if helperName(os.Args[0]) {
		os.Exit(runHelper(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes a command and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch args[0] {
	case "mount":
		err = runMount(ctx, args[1:], stdout, stderr)
	case "serve":
		err = runServe(ctx, args[1:], stdout, stderr)
	case "token":
		err = runToken(ctx, args[1:], stdout, stderr)
	case "status":
		err = runStatus(ctx, args[1:], stdout, stderr)
	case "wait":
		err = runWait(ctx, args[1:], stdout, stderr)
	case "export":
		err = runExport(args[1:], stdout, stderr)
	case "repair":
		err = runRepair(args[1:], stdout, stderr)
	case "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	case "help":
		return helpCommand(args[1:], stdout, stderr)
	case "--version", "-version", "version":
		fmt.Fprint(stdout, versionString(debug.ReadBuildInfo()))
		return 0
	default:
		if helperArgs(args) { // fuse3's mount.fuse: chatfs SOURCE MOUNTPOINT -o OPTS
			return runHelper(args, stdout, stderr)
		}
		fmt.Fprintf(stderr, "chatfs: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	case errors.Is(err, errFailed):
		return 1
	case errors.Is(err, errTimeout):
		fmt.Fprintf(stderr, "chatfs %s: %v\n", args[0], err)
		return 2
	}
	fmt.Fprintf(stderr, "chatfs %s: %v\n", args[0], err)
	return 1
}

// errUsage: the command line was wrong and the flag package said so.
var errUsage = errors.New("usage")

// newLogger logs to stderr, at debug level with --debug.
func newLogger(w io.Writer, debug bool) *slog.Logger {
	level := slog.LevelInfo
	if debug {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}
