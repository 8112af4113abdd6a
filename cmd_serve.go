package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/chatfs/chatfs/remote/emulator"
)

// multiFlag collects a repeated flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("serve", flag.ContinueOnError)
	fl.SetOutput(stderr)
	listen := fl.String("listen", "127.0.0.1:8080", "address to listen on")
	data := fl.String("data", "", "data directory (required)")
	tokenFile := fl.String("token-file", "", "file holding the accepted token (default: CHATFS_TOKEN, else a new token written to DATA/token)")
	token := fl.String("token", "", "accepted token (visible to other users in ps: prefer --token-file)")
	maxSize := fl.Int64("max-size", 10*1024*1024, "per-file size limit in bytes")
	ttl := fl.Duration("ttl", 168*time.Hour, "how long files are kept")
	noRange := fl.Bool("no-range", false, "ignore Range headers, as a server that does not support them")
	debug := fl.Bool("debug", false, "log at debug level")
	var apps multiFlag
	fl.Var(&apps, "app", "an app that exists (app-id/ID or ORG/APP); repeatable; default: every app")
	if err := fl.Parse(args); err != nil {
		return usageErr(err)
	}
	if *data == "" || fl.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: chatfs serve --data DIR [--listen ADDR] [--token-file FILE] [--max-size BYTES] [--ttl DURATION] [--app NAME]...")
		return errUsage
	}
	tok := os.Getenv("CHATFS_TOKEN")
	switch {
	case *tokenFile != "":
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			return err
		}
		tok = strings.TrimSpace(string(b))
		if tok == "" {
			return fmt.Errorf("token file %s is empty", *tokenFile)
		}
	case *token != "":
		fmt.Fprintln(stderr, "chatfs serve: warning: --token is visible to other users in ps; prefer --token-file")
		tok = *token
	}
	log := newLogger(stderr, *debug)
	r, err := emulator.Start(ctx, *listen, emulator.Options{
		Dir:     *data,
		Token:   tok,
		MaxSize: *maxSize,
		TTL:     *ttl,
		Apps:    apps,
		NoRange: *noRange,
		Logger:  log,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "chatfiles emulator on %s\n", r.URL)
	if tok == "" {
		fmt.Fprintf(stdout, "token: in %s/token\n", *data)
	}
	<-ctx.Done()
	return r.Stop()
}

// usageErr passes -h through and turns other flag errors into errUsage
// (the flag package has printed them).
func usageErr(err error) error {
	if err == flag.ErrHelp {
		return err
	}
	return errUsage
}
