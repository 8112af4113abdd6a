package main

import (
	"flag"
	"fmt"
	"io"
	"path/filepath"

	"github.com/chatfs/chatfs/config"
	"github.com/chatfs/chatfs/index"
)

// runStatus prints the upload queue of a state directory. The index is
// locked while a mount runs, so status reads it only when no mount does.
func runStatus(args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("status", flag.ContinueOnError)
	fl.SetOutput(stderr)
	state := fl.String("state", "", "state directory of the mount")
	if err := fl.Parse(args); err != nil {
		return usageErr(err)
	}
	dirs, err := config.StateDirs(*state)
	if err != nil {
		return err
	}
	idx, err := index.Open(filepath.Join(dirs.Data, "index"), index.Options{})
	if err != nil {
		return fmt.Errorf("%w (while a mount runs, read user.chatfs.state xattrs in upload/ instead)", err)
	}
	defer idx.Close()
	counts := map[string]map[index.UploadState]int{}
	err = idx.ListUploads("", func(u index.Upload) error {
		if counts[u.App] == nil {
			counts[u.App] = map[index.UploadState]int{}
		}
		counts[u.App][u.State]++
		if u.State == index.Failed {
			fmt.Fprintf(stdout, "%s: failed: %s: %s\n", u.App, u.Path, u.Error)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for app, c := range counts {
		fmt.Fprintf(stdout, "%s: %d waiting, %d uploading, %d failed\n", app, c[index.Waiting], c[index.Uploading], c[index.Failed])
	}
	if len(counts) == 0 {
		fmt.Fprintln(stdout, "no uploads queued")
	}
	return nil
}
