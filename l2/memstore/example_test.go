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
	defer func() { _ = s.Close() }()

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
	defer func() { _ = s.Close() }()

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

func ExampleStore_Lease() {
	ctx := context.Background()
	s := memstore.New(nil)
	defer func() { _ = s.Close() }()

	loader, waiter := l2.NewToken(), l2.NewToken()
	keys := []l2.Expect{{Key: "user:42"}} // both read it absent
	a, _ := s.Lease(ctx, loader, time.Second, keys)
	fmt.Println(a[0].State) // load the value
	a, _ = s.Lease(ctx, waiter, time.Second, keys)
	fmt.Println(a[0].State) // wait for it

	item := l2.CondItem{Item: l2.Item{Key: "user:42", Value: []byte("Ada"), TTL: time.Minute}}
	res, _ := s.SetLeased(ctx, loader, []l2.CondItem{item})
	fmt.Printf("%+v\n", res[0]) // somebody waited: tell them
	a, _ = s.Lease(ctx, waiter, time.Second, keys)
	fmt.Printf("%v %s\n", a[0].State, a[0].Value)
	// Output:
	// granted
	// held
	// {Stored:true Waited:true}
	// changed Ada
}
