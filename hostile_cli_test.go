package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// Hostile and mistaken command lines and config files: each must end with
// a clear message on stderr and a non-zero exit code, before anything is
// mounted or any request is made, without a panic and without printing a
// token.

const cliToken = "007eJxSYNDNaz3snC8huEfHWdz6s98qltq4zqy9fl99Uh0FDvy6F6DAYGlu4OxobJqSamaQbGJiZmKalJSYapFoZGhqYGaYZGzs"

// cliRun runs the CLI in-process with a private state directory.
func cliRun(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	if len(args) > 0 && args[0] == "mount" {
		args = append([]string{"mount", "--state", t.TempDir()}, args[1:]...)
	}
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// cliFile writes data to a new file with mode and returns its path.
func cliFile(t *testing.T, name, data string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

// appTOML is one [[app]] of a config, with extra lines appended.
func appTOML(extra ...string) string {
	return "[[app]]\n" + strings.Join(extra, "\n") + "\n"
}

func TestHostileCommandLines(t *testing.T) {
	t.Setenv("CHATFS_TOKEN", "")
	tokenOK := cliFile(t, "token", cliToken+"\n", 0o600)
	missing := filepath.Join(t.TempDir(), "missing")
	empty := cliFile(t, "empty", "", 0o600)
	blank := cliFile(t, "blank", " \n\t\n", 0o600)
	huge := cliFile(t, "huge", strings.Repeat("7", 100<<10), 0o600)
	dir := t.TempDir()
	mnt := t.TempDir()
	https := "https://chat.example.invalid" // never contacted: every case fails before

	config := func(body string) string { return cliFile(t, "chatfs.toml", body, 0o600) }
	host := `host = "` + https + `"`
	tokenLine := `token_file = "` + tokenOK + `"`

	tests := []struct {
		name string
		args []string
		want string // in stderr
		code int    // 0 means "not 0"
	}{
		{"token file missing", []string{"mount", "--host", https, "--app-id", "a", "--token-file", missing, mnt}, "no such file", 1},
		{"token file empty", []string{"mount", "--host", https, "--app-id", "a", "--token-file", empty, mnt}, "is empty", 1},
		{"token file blank", []string{"mount", "--host", https, "--app-id", "a", "--token-file", blank, mnt}, "is empty", 1},
		{"token file is a directory", []string{"mount", "--host", https, "--app-id", "a", "--token-file", dir, mnt}, "token file", 1},
		{"token file of 100 KiB", []string{"mount", "--host", https, "--app-id", "a", "--token-file", huge, mnt}, "larger than", 1},
		{"no credentials at all", []string{"mount", "--host", https, "--app-id", "a", mnt}, "no credentials", 1},
		{"plain http to another host", []string{"mount", "--host", "http://chat.example.invalid", "--app-id", "a", "--token-file", tokenOK, mnt}, "allow-plain-http", 1},
		{"plain http allowed, then the token file is missing", []string{"mount", "--host", "http://chat.example.invalid", "--allow-plain-http", "--app-id", "a", "--token-file", missing, mnt}, "no such file", 1},
		{"host with a path", []string{"mount", "--host", https + "/x/y", "--app-id", "a", "--token-file", tokenOK, mnt}, "want scheme://host", 1},
		{"host with a bare ?", []string{"mount", "--host", https + "?", "--app-id", "a", "--token-file", tokenOK, mnt}, "want scheme://host", 1},
		{"host ftp://", []string{"mount", "--host", "ftp://chat.example.invalid", "--app-id", "a", "--token-file", tokenOK, mnt}, "scheme must be https", 1},
		{"app id ../x", []string{"mount", "--host", https, "--app-id", "../x", "--token-file", tokenOK, mnt}, "not a valid app id", 1},
		{"name ../x", []string{"mount", "--host", https, "--app-id", "a", "--name", "../x", "--token-file", tokenOK, mnt}, "not a valid directory name", 1},
		{"name .hidden", []string{"mount", "--host", https, "--app-id", "a", "--name", ".hidden", "--token-file", tokenOK, mnt}, "not a valid directory name", 1},
		{"app id and org both", []string{"mount", "--host", https, "--app-id", "a", "--org", "o", "--app", "p", "--token-file", tokenOK, mnt}, "not both", 1},
		{"huge thumbnail size", []string{"mount", "--host", https, "--app-id", "a", "--thumbnail-size", "99999x99999", "--token-file", tokenOK, mnt}, "thumbnail size", 1},
		{"overflowing thumbnail size", []string{"mount", "--host", https, "--app-id", "a", "--thumbnail-size", "99999999999999999999x1", "--token-file", tokenOK, mnt}, "thumbnail size", 1},
		{"zero thumbnail size", []string{"mount", "--host", https, "--app-id", "a", "--thumbnail-size", "0x0", "--token-file", tokenOK, mnt}, "thumbnail size", 1},
		{"garbage thumbnail size", []string{"mount", "--host", https, "--app-id", "a", "--thumbnail-size", "big", "--token-file", tokenOK, mnt}, "thumbnail size", 1},
		{"negative max size", []string{"mount", "--host", https, "--app-id", "a", "--max-size", "-1", "--token-file", tokenOK, mnt}, "max_size must not be negative", 1},
		{"max size not a number", []string{"mount", "--host", https, "--app-id", "a", "--max-size", "10MB", mnt}, "invalid value", 2},
		{"no mountpoint", []string{"mount", "--host", https, "--app-id", "a"}, "usage", 2},
		{"two mountpoints", []string{"mount", "--host", https, "--app-id", "a", mnt, mnt}, "usage", 2},
		{"unknown command", []string{"mout"}, "unknown command", 2},

		{"config missing", []string{"mount", "--config", missing, mnt}, "no such file", 1},
		{"config is a directory", []string{"mount", "--config", dir, mnt}, "directory", 1},
		{"config of binary garbage", []string{"mount", "--config", config("\x00\xff\xfe[[[\x01"), mnt}, "config", 1},
		{"config with no app", []string{"mount", "--config", config("state = \"/tmp/x\"\n"), mnt}, "no [[app]]", 1},
		{"config with an unknown key", []string{"mount", "--config", config(appTOML(host, `app_id = "a"`, tokenLine, `colour = "blue"`)), mnt}, `unknown key "app.colour"`, 1},
		{"config with a misspelt key", []string{"mount", "--config", config(appTOML(host, `appid = "a"`, tokenLine)), mnt}, "unknown key", 1},
		{"config with two apps of one name", []string{"mount", "--config", config(appTOML(host, `app_id = "a"`, `name = "same"`, tokenLine) + appTOML(host, `app_id = "b"`, `name = "same"`, tokenLine)), mnt}, `two apps named "same"`, 1},
		{"config with two apps of one default name", []string{"mount", "--config", config(appTOML(host, `app_id = "a"`, tokenLine) + appTOML(host, `app_id = "a"`, tokenLine)), mnt}, `two apps named "a"`, 1},
		{"config with name ../x", []string{"mount", "--config", config(appTOML(host, `app_id = "a"`, `name = "../x"`, tokenLine)), mnt}, "not a valid directory name", 1},
		{"config with name ..", []string{"mount", "--config", config(appTOML(host, `app_id = "a"`, `name = ".."`, tokenLine)), mnt}, "not a valid directory name", 1},
		{"config with org ../x", []string{"mount", "--config", config(appTOML(host, `org = "../x"`, `app = "b"`, tokenLine)), mnt}, "not a valid app id", 1},
		{"config with app a..b", []string{"mount", "--config", config(appTOML(host, `org = "o"`, `app = "a..b"`, tokenLine)), mnt}, "not a valid app id", 1},
		{"config with plain http to another host", []string{"mount", "--config", config(appTOML(`host = "http://10.1.2.3:8080"`, `app_id = "a"`, tokenLine)), mnt}, "allow_plain_http", 1},
		{"config with a bare # after the host", []string{"mount", "--config", config(appTOML(`host = "https://h#"`, `app_id = "a"`, tokenLine)), mnt}, "want scheme://host", 1},
		{"config with a huge thumbnail size", []string{"mount", "--config", config(appTOML(host, `app_id = "a"`, `thumbnail_size = "100000x100000"`, tokenLine)), mnt}, "thumbnail size", 1},
		{"config with a negative max size", []string{"mount", "--config", config(appTOML(host, `app_id = "a"`, `max_size = -5`, tokenLine)), mnt}, "max_size must not be negative", 1},
		{"config with max size of the wrong type", []string{"mount", "--config", config(appTOML(host, `app_id = "a"`, `max_size = "lots"`, tokenLine)), mnt}, "max_size", 1},
		{"config with a negative cache size", []string{"mount", "--config", config("cache_size = -1\n" + appTOML(host, `app_id = "a"`, tokenLine)), mnt}, "cache_size must not be negative", 1},
		{"config with a missing token file", []string{"mount", "--config", config(appTOML(host, `app_id = "a"`, `token_file = "`+missing+`"`)), mnt}, "no such file", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := cliRun(t, tt.args...)
			if tt.code != 0 {
				assert.Equal(t, tt.code, code, "stderr: %s", stderr)
			}
			assert.NotZero(t, code)
			assert.Contains(t, stderr, tt.want)
			assert.Less(t, len(stderr), 8<<10, "a short message")
			assert.NotContains(t, stdout+stderr, cliToken)
			assert.NotContains(t, stdout, "mounted on")
			t.Logf("exit %d: %s", code, firstLine(stderr))
		})
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// TestWorldReadableTokenFile: a token file others can read is warned
// about on stderr, without the token. The config's second app then fails
// (its token file is missing), so that nothing is mounted.
func TestWorldReadableTokenFile(t *testing.T) {
	t.Setenv("CHATFS_TOKEN", "")
	loose := cliFile(t, "token", cliToken+"\n", 0o644)
	missing := filepath.Join(t.TempDir(), "missing")
	host := `host = "https://chat.example.invalid"`
	cfg := cliFile(t, "chatfs.toml", appTOML(host, `app_id = "a"`, `token_file = "`+loose+`"`)+
		appTOML(host, `app_id = "b"`, `token_file = "`+missing+`"`), 0o600)
	code, stdout, stderr := cliRun(t, "mount", "--config", cfg, t.TempDir())
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "accessible by group or others")
	assert.Contains(t, stderr, "chmod 600")
	assert.Contains(t, stderr, "app b")
	assert.NotContains(t, stdout, "readable", "warnings go to stderr")
	assert.NotContains(t, stdout+stderr, cliToken)
	assert.NotContains(t, stdout+stderr, cliToken[:20], "not even the start of the token")
}

// TestSpecialFilesDoNotHang: a token or config file that is a named pipe
// without a writer, or a device without end, fails clearly and at once.
func TestSpecialFilesDoNotHang(t *testing.T) {
	t.Setenv("CHATFS_TOKEN", "")
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"token file is a named pipe", []string{"mount", "--host", "https://chat.example.invalid", "--app-id", "a", "--token-file", fifo, t.TempDir()}, "is empty"},
		{"config is a named pipe", []string{"mount", "--config", fifo, t.TempDir()}, "no [[app]]"},
		{"config is /dev/zero", []string{"mount", "--config", "/dev/zero", t.TempDir()}, "larger than"},
		{"token file is /dev/zero", []string{"mount", "--host", "https://chat.example.invalid", "--app-id", "a", "--token-file", "/dev/zero", t.TempDir()}, "larger than"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			type result struct {
				code   int
				stderr string
			}
			done := make(chan result, 1)
			go func() {
				code, _, stderr := cliRun(t, tt.args...)
				done <- result{code, stderr}
			}()
			select {
			case r := <-done:
				assert.Equal(t, 1, r.code)
				assert.Contains(t, r.stderr, tt.want)
			case <-time.After(10 * time.Second):
				t.Fatal("chatfs hangs")
			}
		})
	}
}
