package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/stt-go/stt"
)

// Error lines: every failure the CLI prints is one line that starts with
// "stt: ". describe turns an error into that line's text: the library's
// own wording for stream resets, closed sessions and timeouts is replaced
// by what happened in the user's terms, and the package prefixes that
// library errors carry ("stt: ", "control: ", "batch: ", …) are dropped
// so that the line has one prefix only.

// Session close codes of docs/PROTOCOL.md (CONTROL/CLOSE) that describe
// names; the root package reports them in stt.SessionError.Code.
const (
	closeNoError      = 0x0 // graceful close
	closeIdleTimeout  = 0x7 // nothing heard from the peer for the idle timeout
	closeNodeStopping = 0x8 // the node is shutting down
)

// describe returns err's text for the user, on one line and without the
// leading "stt: " that the caller prints.
func describe(err error) string {
	msg := err.Error()
	if lib, human := translate(err); lib != "" {
		msg = strings.ReplaceAll(msg, lib, human)
	}
	return oneLine(stripPrefixes(msg))
}

// translate finds the library error inside err that has a plainer wording
// and returns its text (as it appears in err's message) and the
// replacement; lib is "" when there is none.
func translate(err error) (lib, human string) {
	var (
		se  *stt.StreamError
		ses *stt.SessionError
	)
	switch {
	case errors.As(err, &se):
		return se.Error(), streamReset(se)
	case errors.As(err, &ses):
		return ses.Error(), sessionClosed(ses)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return innermost(err, os.ErrDeadlineExceeded), "timed out"
	case errors.Is(err, context.DeadlineExceeded):
		return context.DeadlineExceeded.Error(), "timed out"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return io.ErrUnexpectedEOF.Error(), "the stream ended early"
	case errors.Is(err, stt.ErrClosed):
		return stt.ErrClosed.Error(), "the session is closed"
	case errors.Is(err, stt.ErrMessageTooLarge):
		return stt.ErrMessageTooLarge.Error(), "a message was larger than the peer accepts"
	}
	return "", ""
}

// innermost returns the text of the error in err's chain that matches
// target, for replacing it in err's message.
func innermost(err, target error) string {
	last := err
	for e := err; e != nil; e = errors.Unwrap(e) {
		if errors.Is(e, target) {
			last = e
		}
	}
	return last.Error()
}

// streamReset words a stream reset: the stream codes are the CLI's own
// (codeRefused, codeCancelled), others come from the library.
func streamReset(e *stt.StreamError) string {
	if !e.Remote {
		return fmt.Sprintf("the transfer was cancelled here (stream code %#x)", e.Code)
	}
	switch e.Code {
	case codeRefused:
		return "the peer refused the transfer"
	case codeCancelled:
		return "the peer cancelled the transfer"
	case codeShuttingDown:
		return "the receiver is shutting down"
	}
	return fmt.Sprintf("the peer reset the stream (code %#x)", e.Code)
}

// sessionClosed words why a session ended.
func sessionClosed(e *stt.SessionError) string {
	switch {
	case e.Remote && e.Code == closeNoError:
		return "the peer closed the session"
	case e.Remote && e.Code == closeNodeStopping:
		return "the peer shut down"
	case e.Remote:
		return fmt.Sprintf("the peer closed the session with an error: %s (code %#x)", stripPrefixes(e.Reason), e.Code)
	case e.Code == closeIdleTimeout:
		return "the peer stopped answering (" + e.Reason + ")"
	case e.Code == closeNodeStopping:
		return "this node is shutting down"
	case e.Reason != "":
		return fmt.Sprintf("the session failed: %s (code %#x)", stripPrefixes(e.Reason), e.Code)
	}
	return fmt.Sprintf("the session failed (code %#x)", e.Code)
}

// libPrefix matches a library package's prefix at the start of the
// message or of a wrapped part of it.
var libPrefix = regexp.MustCompile(`(^|: |; |\()(?:stt|control|dataplane|streambuf|batch|wire|stc|ws|storage|streaming): `)

// stripPrefixes drops the package prefixes library errors start with.
func stripPrefixes(s string) string {
	for {
		t := libPrefix.ReplaceAllString(s, "$1")
		if t == s {
			return s
		}
		s = t
	}
}

// flagName rewrites the flag package's "-name" into the "--name" that the
// help text and the docs use (one-letter flags keep one dash).
var flagName = regexp.MustCompile(`(^|[ :])-([a-zA-Z][a-zA-Z0-9-]+)`)

// flagError rewrites a flag parse error's flag names as --name.
func flagError(err error) error {
	return errors.New(flagName.ReplaceAllString(err.Error(), "$1--$2"))
}

// causeWait bounds how long sessionCause waits for a closing session to
// record its reason.
const causeWait = 500 * time.Millisecond

// sessionCause returns err with the reason its session closed when err
// only says "closed" (stream operations on a closed session return
// stt.ErrClosed, and the session keeps the reason: a SessionError that
// describe puts in words such as "the peer shut down").
func sessionCause(sess *stt.Session, err error) error {
	var se *stt.SessionError
	if err == nil || sess == nil || !errors.Is(err, stt.ErrClosed) || errors.As(err, &se) {
		return err
	}
	// A stream can see the session closed a moment before the session
	// has recorded why.
	select {
	case <-sess.Done():
	case <-time.After(causeWait):
	}
	cause := sess.Err()
	if !errors.As(cause, &se) {
		return err
	}
	return &closedBecause{err: err, cause: se}
}

// closedBecause is a "closed" error with the session's reason.
type closedBecause struct {
	err   error
	cause *stt.SessionError
}

func (e *closedBecause) Error() string {
	return strings.ReplaceAll(e.err.Error(), stt.ErrClosed.Error(), e.cause.Error())
}

func (e *closedBecause) Unwrap() []error { return []error{e.cause, e.err} }
