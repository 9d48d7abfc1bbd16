// Command classifier is the mxgate content classifier: the gRPC service
// ("serve", the default) and offline tools ("train", "classify", "eval").
package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/mxgate/mxgate/proto/lifecycle"
)

// subcommands maps a subcommand name to its entry point; each subcommand
// registers itself from an init function in its own file.
var subcommands = map[string]func(ctx context.Context, args []string) error{}

func register(name string, run func(ctx context.Context, args []string) error) {
	subcommands[name] = run
}

func main() {
	args := os.Args[1:]
	name := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	run, ok := subcommands[name]
	if !ok {
		names := make([]string, 0, len(subcommands))
		for n := range subcommands {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Fprintf(os.Stderr, "classifier: unknown subcommand %q (have: %s)\n", name, strings.Join(names, ", "))
		os.Exit(2)
	}
	ctx, stop := lifecycle.SignalContext(context.Background())
	err := run(ctx, args)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "classifier %s: %v\n", name, err)
		os.Exit(1)
	}
}
