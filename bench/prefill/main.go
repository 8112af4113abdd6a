// Command prefill records N made-up files of one app in a chatfs index,
// through the index package, so that bench.sh can list N files without
// uploading them. It is a benchmark helper, not part of chatfs.
//
//	go run ./bench/prefill -state DIR -app NAME -n N
package main

import (
	"crypto/rand"
	"flag"
	"fmt"
	"log"
	"path/filepath"
	"time"

	"github.com/chatfs/chatfs/config"
	"github.com/chatfs/chatfs/index"
)

func main() {
	state := flag.String("state", "", "the --state directory chatfs mount will use")
	app := flag.String("app", "bench", "the app's directory name")
	host := flag.String("host", "http://127.0.0.1", "base URL recorded in each file's url")
	n := flag.Int("n", 1000, "files to record")
	flag.Parse()
	if *state == "" {
		log.Fatal("prefill: -state is required")
	}
	dirs, err := config.StateDirs(*state)
	if err != nil {
		log.Fatal(err)
	}
	db, err := index.Open(filepath.Join(dirs.Data, "index"), index.Options{})
	if err != nil {
		log.Fatal(err)
	}
	now := time.Now()
	for i := range *n {
		id := uuid()
		f := index.File{
			App:      *app,
			UUID:     id,
			Name:     fmt.Sprintf("file-%07d.bin", i),
			URL:      *host + "/app-id/" + *app + "/chatfiles/" + id,
			Size:     1024,
			MIME:     "application/octet-stream",
			Uploaded: now,
			Expires:  now.Add(7 * 24 * time.Hour),
		}
		if err := db.Put(&f); err != nil {
			log.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		log.Fatal(err)
	}
}

// uuid is a random version-4 uuid, as the service hands out.
func uuid() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
