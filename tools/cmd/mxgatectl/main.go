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
	"time"

	"google.golang.org/grpc"

	"github.com/mxgate/mxgate/proto/grpcsrv"
	"github.com/mxgate/mxgate/proto/lifecycle"
	classifierv1 "github.com/mxgate/mxgate/proto/mxgate/classifier/v1"
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

// classifierFlag adds the --classifier address flag to fs.
func classifierFlag(fs *flag.FlagSet) *string {
	return fs.String("classifier", envOr("MXGATE_CLASSIFIER_ADDR", "127.0.0.1:7104"), "classifier gRPC address")
}

// operands parses the flags of fs anywhere among args and returns the
// other arguments; with none it prints use and returns errUsage.
func operands(fs *flag.FlagSet, args []string, use string) ([]string, error) {
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return nil, err
	}
	if len(pos) == 0 {
		fmt.Fprintln(os.Stderr, use)
		return nil, errUsage
	}
	return pos, nil
}

// eachMessage reads each file and calls f with its name and content under
// a context that ends after timeout; f's error is returned with the file's
// name, and the first error stops the loop.
func eachMessage(ctx context.Context, files []string, timeout time.Duration, f func(ctx context.Context, name string, raw []byte) error) error {
	for _, name := range files {
		raw, err := os.ReadFile(name)
		if err != nil {
			return err
		}
		cctx, cancel := context.WithTimeout(ctx, timeout)
		err = f(cctx, name, raw)
		cancel()
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

// dialClassifier connects to the classifier's gRPC service at addr; the
// caller closes the connection.
func dialClassifier(addr string) (classifierv1.ClassifierServiceClient, *grpc.ClientConn, error) {
	conn, err := grpcsrv.Dial(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	return classifierv1.NewClassifierServiceClient(conn), conn, nil
}
