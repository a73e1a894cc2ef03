package loader

import (
	"errors"
	"fmt"
)

// ErrPanicked matches (with errors.Is) every [*PanicError].
var ErrPanicked = errors.New("loader: panicked")

// ErrGoexit is returned to the waiters of a load that called
// runtime.Goexit (t.FailNow in a test, for example).
var ErrGoexit = errors.New("loader: load called runtime.Goexit")

// PanicError is the error every waiter of a load receives when the load
// panicked.
type PanicError struct {
	// Value is what the load passed to panic.
	Value any
	// Stack is the stack trace of the panicking goroutine.
	Stack []byte
}

// Error describes the panic in one line; the stack trace is in Stack, for
// a log that wants it.
func (e *PanicError) Error() string {
	return fmt.Sprintf("loader: panic: %v", e.Value)
}

// Is reports whether target is ErrPanicked.
func (e *PanicError) Is(target error) bool { return target == ErrPanicked }

// Unwrap returns the panic value when it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}
