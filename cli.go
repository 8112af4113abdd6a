package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
)

// newFlagSet makes a command's flag set. Its -h (and `chatfs help NAME`)
// prints the whole usage: the synopsis with the arguments the command
// takes, what it does, and every flag.
func newFlagSet(name, synopsis, about string, stderr io.Writer) *flag.FlagSet {
	fl := flag.NewFlagSet(name, flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Usage = func() {
		w := fl.Output()
		fmt.Fprintf(w, "Usage: chatfs %s %s\n\n%s\n", name, synopsis, strings.TrimSpace(about))
		n := 0
		fl.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprintf(w, "\nFlags (-name or --name):\n")
			fl.PrintDefaults()
		}
	}
	return fl
}

// parseFlags parses args as fl's flags mixed with positional arguments,
// in any order (`chatfs mount MNT --debug` as `chatfs mount --debug MNT`),
// and returns the positional ones. "--" ends the flags: what follows is
// positional even if it starts with a dash.
func parseFlags(fl *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fl.Parse(args); err != nil {
			return nil, err
		}
		rest := fl.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// helpCommand prints the usage of one command, or chatfs's.
func helpCommand(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stdout, usage)
		return 0
	}
	if len(args) > 1 || strings.HasPrefix(args[0], "-") || args[0] == "help" {
		fmt.Fprintf(stderr, "usage: chatfs help [COMMAND]\n")
		return 2
	}
	// The command's own -h, whose usage goes to stdout here; an unknown
	// command's complaint to stderr.
	var out bytes.Buffer
	code := run([]string{args[0], "-h"}, &out, &out)
	w := stdout
	if code != 0 {
		w = stderr
	}
	_, _ = out.WriteTo(w)
	return code
}

// versionString is chatfs's version from the build information: the
// module version (a tag with `go install …@vX`, "(devel)" from a
// checkout), the VCS revision and time when the build recorded them, and
// the Go version and platform.
func versionString(bi *debug.BuildInfo, ok bool) string {
	v := "(unknown)"
	var rev, at string
	modified := false
	goVersion := runtime.Version()
	if ok {
		v = bi.Main.Version
		if v == "" {
			v = "(devel)"
		}
		goVersion = bi.GoVersion
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				at = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "chatfs %s", v)
	if rev != "" {
		fmt.Fprintf(&b, " revision %s", rev)
		if modified {
			b.WriteString(" (modified)")
		}
		if at != "" {
			fmt.Fprintf(&b, " of %s", at)
		}
	}
	fmt.Fprintf(&b, ", %s %s/%s\n", goVersion, runtime.GOOS, runtime.GOARCH)
	return b.String()
}
