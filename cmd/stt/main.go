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
	exitOK          = 0   // success
	exitFailure     = 1   // runtime failure
	exitUsage       = 2   // usage error
	exitInterrupted = 130 // stopped by SIGINT or SIGTERM: the shell's 128+SIGINT
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
		{"live", "live streaming: an origin, its viewers, and a lossy-path demo", runLive},
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
// printing exactly one line on stderr for a failure, "stt: " and the
// error in the user's terms (describe), or "stt: interrupted" when ctx
// ended (SIGINT or SIGTERM) before the command finished.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printUsage(stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	if args[0] == "--version" || args[0] == "-version" {
		fmt.Fprintln(stdout, versionLine())
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
		var ue *usageError
		switch {
		case errors.As(err, &ue):
			fmt.Fprintf(stderr, "stt: %s\n", describe(err))
			fmt.Fprintf(stderr, "run 'stt %s --help' for usage\n", c.name)
			return exitUsage
		case ctx.Err() != nil:
			fmt.Fprintln(stderr, "stt: interrupted")
			return exitInterrupted
		}
		fmt.Fprintf(stderr, "stt: %s\n", describe(err))
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
	fmt.Fprintln(w, "run 'stt <command> --help' for its flags, 'stt --version' for the version;")
	fmt.Fprintln(w, "exit codes: 0 ok, 1 failure, 2 usage error, 130 interrupted")
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

// parse parses args; flag errors become usage errors (naming flags as
// --name), and --help prints the usage text and returns flag.ErrHelp
// (exit 0).
func (f *flagSet) parse(args []string) error {
	err := f.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(f.stderr, "usage: stt %s\n\nflags:\n", f.synopsis)
		f.printDefaults(f.stderr)
		return flag.ErrHelp
	}
	if err != nil {
		return &usageError{err: flagError(err)}
	}
	return nil
}

// printDefaults is flag.PrintDefaults with the flags written as the docs
// write them: --name for long names (the flag package accepts both one
// and two dashes, and prints one), -o for one-letter ones.
func (f *flagSet) printDefaults(w io.Writer) {
	f.VisitAll(func(fl *flag.Flag) {
		dashes := "--"
		if len(fl.Name) == 1 {
			dashes = "-"
		}
		arg, usage := flag.UnquoteUsage(fl)
		line := "  " + dashes + fl.Name
		if arg != "" {
			line += " " + arg
		}
		fmt.Fprintf(w, "%s\n    \t%s", line, strings.ReplaceAll(usage, "\n", "\n    \t"))
		if def := defaultText(fl); def != "" {
			fmt.Fprintf(w, " (default %s)", def)
		}
		fmt.Fprintln(w)
	})
}

// defaultText is a flag's default as help shows it, or "" for a zero
// default (false, 0, "", 0s), which help leaves out as flag does.
func defaultText(fl *flag.Flag) string {
	switch fl.DefValue {
	case "", "0", "false", "0s":
		return ""
	}
	if g, ok := fl.Value.(flag.Getter); ok {
		if _, isString := g.Get().(string); isString {
			return fmt.Sprintf("%q", fl.DefValue)
		}
	}
	return fl.DefValue
}

// given returns the names of the flags the command line set.
func (f *flagSet) given() map[string]bool {
	set := make(map[string]bool)
	f.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	return set
}
