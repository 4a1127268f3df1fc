// Command flurry is Flurry's one binary: the servers (standalone,
// controller, invoker, gateway), the in-container action proxy, and the
// client commands in the style of wsk.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// command is one subcommand; args exclude the subcommand's name.
type command struct {
	run   func(ctx context.Context, args []string) error
	usage string
	// hidden commands are left out of the help text.
	hidden bool
}

var commands = map[string]command{}

// register adds a subcommand; each command's file registers itself in init.
func register(name, usage string, hidden bool, run func(ctx context.Context, args []string) error) {
	commands[name] = command{run: run, usage: usage, hidden: hidden}
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printUsage()
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(os.Stderr, "flurry: unknown command %q\n\n", args[0])
		printUsage()
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cmd.run(ctx, args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0 // the flag set printed its usage
		}
		fmt.Fprintf(os.Stderr, "flurry %s: %v\n", args[0], err)
		return exitCode(err)
	}
	return 0
}

// exitError carries a specific process exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func exitCode(err error) int {
	if e, ok := err.(*exitError); ok {
		return e.code
	}
	return 1
}

func printUsage() {
	fmt.Fprintln(os.Stderr, "usage: flurry COMMAND [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n, c := range commands {
		if !c.hidden {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-12s %s\n", n, commands[n].usage)
	}
}
