package tiered

import (
	"errors"

	"github.com/tiercache/tiercache/loader"
)

var (
	// ErrNotFound means the key has no value in the source of truth: a
	// loader returned it (possibly wrapped), or a cached "not found"
	// answer was served (see Options.NotFoundTTL). It is the same error
	// as loader.ErrNotFound.
	ErrNotFound = loader.ErrNotFound

	// ErrMiss is returned by Get when the key is in neither tier and the
	// cache has no Loader (cache-aside use).
	ErrMiss = errors.New("tiered: miss")

	// ErrClosed is returned by every method called after Close.
	ErrClosed = errors.New("tiered: cache closed")

	// ErrInvalidOptions is wrapped by the errors of New.
	ErrInvalidOptions = errors.New("tiered: invalid options")
)
