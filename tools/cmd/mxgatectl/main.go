// Command mxgatectl administers an mxgate cluster: fingerprints, user
// reports and, as the services grow admin APIs, lists, policies and routes.
//
// Each subcommand lives in its own file and registers itself in init, so
// the command table below stays the only shared piece.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/mxgate/mxgate/proto/lifecycle"
)

// command is one mxgatectl subcommand.
type command struct {
	name    string
	summary string
	// run executes the subcommand with the arguments after its name; it
	// writes results to stdout and returns errors instead of printing them.
	run func(ctx context.Context, stdout io.Writer, args []string) error
}

var commands = map[string]command{}

func register(c command) {
	if _, dup := commands[c.name]; dup {
		panic("mxgatectl: duplicate command " + c.name)
	}
	commands[c.name] = c
}

// errUsage makes main print the usage and exit 2.
var errUsage = errors.New("mxgatectl: usage")

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: mxgatectl <command> [flags] [args]")
	fmt.Fprintln(w, "\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-14s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'mxgatectl <command> -h' for a command's flags.")
}

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		usage(os.Stdout)
		if len(os.Args) < 2 {
			os.Exit(2)
		}
		return
	}
	c, ok := commands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "mxgatectl: unknown command %q\n\n", os.Args[1])
		usage(os.Stderr)
		os.Exit(2)
	}
	ctx, cancel := lifecycle.SignalContext(context.Background())
	defer cancel()
	if err := c.run(ctx, os.Stdout, os.Args[2:]); err != nil {
		if errors.Is(err, errUsage) || errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "mxgatectl "+c.name+":", err)
		os.Exit(1)
	}
}

// envOr returns the environment variable name's value, or def when unset.
func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}
