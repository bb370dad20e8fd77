// Command credbroker gives CI build tasks AWS credentials. See the README.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/credbroker/credbroker/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Environ: os.Environ()})
	stop()
	os.Exit(code)
}
