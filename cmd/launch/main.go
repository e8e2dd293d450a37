// Command launch starts one worker process per local rank of a
// data-parallel job and supervises them; see `launch --help` and package
// launch.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/unigrpo/unigrpo/launch"
)

func main() {
	os.Exit(run())
}

func run() int {
	cfg, err := launch.ParseArgs(os.Args[1:], os.LookupEnv, os.Stdout)
	if errors.Is(err, launch.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "launch: %v\nRun 'launch --help' for usage.\n", err)
		return 2
	}
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	code, err := launch.Run(context.Background(), cfg, signals)
	if err != nil {
		fmt.Fprintf(os.Stderr, "launch: %v\n", err)
	}
	return code
}
