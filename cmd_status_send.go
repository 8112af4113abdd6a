package main

import (
	"fmt"
	"io"
	"time"

	"github.com/chatfs/chatfs/internal/control"
)

// printSends writes what an app's send/ holds, from the mount's status:
// the counts by state, then each file with its state, size, attempts and
// (when it failed or waits to try again) the reason. Nothing when send/
// holds nothing to send.
func printSends(w io.Writer, a control.App, now time.Time) {
	if len(a.Sends) == 0 {
		return
	}
	n := map[string]int{}
	for _, s := range a.Sends {
		n[s.State]++
	}
	fmt.Fprintf(w, "%s send/: %d waiting, %d uploading, %d sending, %d failed\n",
		printable(a.Name), n[control.Waiting], n[control.Uploading], n[control.Sending], n[control.Failed])
	for _, s := range a.Sends {
		fmt.Fprintf(w, "  %s: %s\n", s.State, uploadLine(sendAsUpload(s), now))
	}
}

// sendAsUpload is a send as the upload lines show it: its path under
// send/.
func sendAsUpload(s control.Send) control.Upload {
	return control.Upload{Path: "send/" + s.Path, Size: s.Size, State: s.State, Attempts: s.Attempts,
		NextRetry: s.NextRetry, Error: s.Error, Sent: s.Sent, Started: s.Started}
}
