// Command synccp copies every regular file of a folder into another one
// and fsyncs each copy before closing it: the local floor bench.sh times a
// `cp` into upload/ against (chatfs makes each closed file durable). It is
// a benchmark helper, not part of chatfs.
//
//	go run ./bench/synccp SRC DST
package main

import (
	"io"
	"log"
	"os"
	"path/filepath"
)

func main() {
	if len(os.Args) != 3 {
		log.Fatal("usage: synccp SRC DST")
	}
	src, dst := os.Args[1], os.Args[2]
	des, err := os.ReadDir(src)
	if err != nil {
		log.Fatal(err)
	}
	for _, de := range des {
		if !de.Type().IsRegular() {
			continue
		}
		if err := copyFile(filepath.Join(src, de.Name()), filepath.Join(dst, de.Name())); err != nil {
			log.Fatal(err)
		}
	}
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
