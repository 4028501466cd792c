package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// Exit codes (documented in the package doc).
const (
	exitOK      = 0 // success
	exitFailure = 1 // runtime failure
	exitUsage   = 2 // usage error
)

// usageError marks a command-line mistake: it exits with exitUsage.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return &usageError{err: fmt.Errorf(format, args...)}
}

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"keygen", "write a new 32-byte random seed file", runKeygen},
		{"listen", "accept sessions and store received files", runListen},
		{"send", "send files to a listening node", runSend},
		{"bench", "measure throughput, message rate and RTT", runBench},
		{"demo", "two nodes in one process: bulk, messages, verified", runDemo},
		{"store", "put, get and stat files in an encrypted store (directory or S3)", runStore},
		{"conformance", "test another STT implementation against the protocol docs", runConformance},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches args to a subcommand and maps its error to an exit code,
// printing exactly one line on stderr for a failure.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printUsage(stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, args[1:], stdout, stderr)
		switch {
		case err == nil:
			return exitOK
		case errors.Is(err, flag.ErrHelp):
			return exitOK
		}
		fmt.Fprintf(stderr, "stt %s: %s\n", c.name, oneLine(err.Error()))
		var ue *usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "run 'stt %s --help' for usage\n", c.name)
			return exitUsage
		}
		return exitFailure
	}
	fmt.Fprintf(stderr, "stt: unknown command %q\n", args[0])
	printUsage(stderr)
	return exitUsage
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: stt <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "run 'stt <command> --help' for its flags; exit codes: 0 ok, 1 failure, 2 usage error")
}

// oneLine folds an error message onto one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
}

// flagSet is a subcommand's flag.FlagSet with its usage text.
type flagSet struct {
	*flag.FlagSet
	synopsis string
	stderr   io.Writer
}

// newFlagSet returns a FlagSet that reports parse errors as usage errors
// instead of exiting, with a usage text naming the subcommand.
func newFlagSet(name, synopsis string, stderr io.Writer) *flagSet {
	fs := flag.NewFlagSet("stt "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &flagSet{FlagSet: fs, synopsis: synopsis, stderr: stderr}
}

// parse parses args; flag errors become usage errors, and --help prints
// the usage text and returns flag.ErrHelp (exit 0).
func (f *flagSet) parse(args []string) error {
	err := f.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(f.stderr, "usage: stt %s\n\nflags:\n", f.synopsis)
		f.SetOutput(f.stderr)
		f.PrintDefaults()
		return flag.ErrHelp
	}
	if err != nil {
		return &usageError{err: err}
	}
	return nil
}

// given returns the names of the flags the command line set.
func (f *flagSet) given() map[string]bool {
	set := make(map[string]bool)
	f.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	return set
}
