package main

import (
	"flag"
	"io"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// chatfs --version names the version, the VCS revision when the build
// recorded one (and whether the tree was modified), and Go and the platform.
func TestVersion(t *testing.T) {
	for _, arg := range []string{"--version", "-version", "version"} {
		code, out, _ := runCmd(arg)
		require.Equal(t, 0, code, arg)
		assert.True(t, strings.HasPrefix(out, "chatfs "), out)
		assert.Contains(t, out, runtime.GOOS+"/"+runtime.GOARCH)
	}
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/chatfs/chatfs", Version: "v1.2.3"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "4479554261793f43c19201730e9477228502d44e"},
			{Key: "vcs.time", Value: "2026-11-29T08:52:59Z"}, {Key: "vcs.modified", Value: "true"}}}
	assert.Equal(t, "chatfs v1.2.3 revision 4479554261793f43c19201730e9477228502d44e (modified) of 2026-11-29T08:52:59Z, go1.26.8 "+
		runtime.GOOS+"/"+runtime.GOARCH+"\n", versionString(bi, true))
	bi.Main.Version, bi.Settings = "", nil
	assert.Equal(t, "chatfs (devel), go1.26.8 "+runtime.GOOS+"/"+runtime.GOARCH+"\n", versionString(bi, true))
	assert.True(t, strings.HasPrefix(versionString(nil, false), "chatfs (unknown), go"))
}

// Every command of the top-level usage has a complete help, the same by
// `chatfs help CMD` (on stdout) and `chatfs CMD -h`: its synopsis with the
// arguments the top-level usage gives it, what it does, and its flags.
func TestHelpOfEveryCommand(t *testing.T) {
	code, top, _ := runCmd("help")
	require.Equal(t, 0, code)
	line := regexp.MustCompile(`(?m)^  chatfs ([a-z]+) (.*?)(?:  |$)`)
	var cmds []string
	for _, m := range line.FindAllStringSubmatch(top, -1) {
		cmd, synopsis := m[1], m[2]
		if cmd == "help" {
			continue
		}
		cmds = append(cmds, cmd)
		code, help, errOut := runCmd("help", cmd)
		require.Equal(t, 0, code, "chatfs help %s: %s", cmd, errOut)
		assert.Empty(t, errOut)
		code, _, dashH := runCmd(cmd, "-h")
		require.Equal(t, 0, code)
		assert.Equal(t, help, dashH, "chatfs %s -h prints its help too", cmd)

		first, rest, _ := strings.Cut(help, "\n")
		assert.True(t, strings.HasPrefix(first, "Usage: chatfs "+cmd+" "), "%s: %q", cmd, first)
		for _, arg := range regexp.MustCompile(`\b[A-Z]{3,}\b`).FindAllString(synopsis, -1) {
			assert.Contains(t, first, arg, "chatfs %s's help names its argument %s", cmd, arg)
		}
		about, _, _ := strings.Cut(strings.TrimLeft(rest, "\n"), "\n")
		assert.NotEmpty(t, about, "chatfs %s's help says what it does", cmd)
		assert.NotContains(t, help, "Usage of ", cmd)
	}
	assert.Subset(t, cmds, []string{"mount", "serve", "token", "status", "export", "repair"})
	code, help, _ := runCmd("help", "status")
	require.Equal(t, 0, code)
	assert.Contains(t, help, "Usage: chatfs status [flags] MOUNTPOINT")
	code, help, _ = runCmd("help", "mount")
	require.Equal(t, 0, code)
	assert.Contains(t, help, "-debug")
	assert.Contains(t, help, "Flags go before or after MOUNTPOINT")

	code, _, errOut := runCmd("help", "nope")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, `unknown command "nope"`)
	code, _, _ = runCmd("help", "mount", "status")
	assert.Equal(t, 2, code)
	assert.Contains(t, top, "chatfs --version")
}

// parseFlags takes flags before, between and after the positional
// arguments; "--" ends the flags.
func TestParseFlagsAnyOrder(t *testing.T) {
	for _, c := range []struct {
		args  []string
		pos   []string
		debug bool
		state string
	}{
		{[]string{"MNT"}, []string{"MNT"}, false, ""},
		{[]string{"--debug", "MNT"}, []string{"MNT"}, true, ""},
		{[]string{"MNT", "--debug"}, []string{"MNT"}, true, ""},
		{[]string{"MNT", "--state", "S", "--debug"}, []string{"MNT"}, true, "S"},
		{[]string{"--state=S", "A", "-debug", "B"}, []string{"A", "B"}, true, "S"},
		{[]string{"--debug", "--", "-MNT", "--state"}, []string{"-MNT", "--state"}, true, ""},
		{[]string{"MNT", "--"}, []string{"MNT"}, false, ""},
		{nil, nil, false, ""},
	} {
		fl := flag.NewFlagSet("t", flag.ContinueOnError)
		debug := fl.Bool("debug", false, "")
		state := fl.String("state", "", "")
		pos, err := parseFlags(fl, c.args)
		require.NoError(t, err, c.args)
		assert.Equal(t, c.pos, pos, c.args)
		assert.Equal(t, c.debug, *debug, c.args)
		assert.Equal(t, c.state, *state, c.args)
	}
	fl := flag.NewFlagSet("t", flag.ContinueOnError)
	fl.SetOutput(io.Discard)
	_, err := parseFlags(fl, []string{"MNT", "--nope"})
	assert.Error(t, err, "an unknown flag after the argument is still refused")
}

// chatfs mount MNT --debug mounts as chatfs mount --debug MNT would.
func TestMountFlagsAfterMountpoint(t *testing.T) {
	mnt, state := t.TempDir(), t.TempDir()
	p, err := parseMount([]string{mnt, "--debug", "--state", state, "--settle", "3s"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, mnt, p.mountpoint)
	assert.True(t, p.debug)
	assert.Equal(t, state, p.state)
	assert.Equal(t, "3s", p.settle.String())

	_, err = parseMount([]string{mnt, "--debug", filepath.Join(t.TempDir(), "second")}, io.Discard)
	assert.ErrorIs(t, err, errUsage)
}
