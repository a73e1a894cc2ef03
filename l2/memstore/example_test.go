package memstore_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tiercache/tiercache/l2"
	"github.com/tiercache/tiercache/l2/memstore"
)

func Example() {
	ctx := context.Background()
	now := time.Unix(0, 0)
	s := memstore.New(&memstore.Options{Now: func() time.Time { return now }})
	defer s.Close()

	_ = s.Set(ctx, "user:42", []byte(`{"name":"Ada"}`), time.Minute)
	v, err := s.Get(ctx, "user:42")
	fmt.Printf("%s %v\n", v, err)

	now = now.Add(time.Minute) // the fake clock passes the TTL
	_, err = s.Get(ctx, "user:42")
	fmt.Println(errors.Is(err, l2.ErrMiss))
	// Output:
	// {"name":"Ada"} <nil>
	// true
}

func ExampleStore_FailWith() {
	ctx := context.Background()
	s := memstore.New(nil)
	defer s.Close()

	down := errors.New("connection refused")
	s.FailWith(down) // the tier is down
	_, err := s.Get(ctx, "user:42")
	fmt.Println(err, errors.Is(err, down))

	s.FailWith(nil) // and back
	_, err = s.Get(ctx, "user:42")
	fmt.Println(err)
	// Output:
	// memstore: get: connection refused true
	// l2: miss
}
