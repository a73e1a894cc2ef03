package cdc_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/tiercache/tiercache/invalidate/cdc"
)

// printer is a Target that prints what it is asked to evict.
type printer string

func (p printer) Delete(_ context.Context, keys ...string) error {
	fmt.Printf("%s: delete %s\n", p, strings.Join(keys, ", "))
	return nil
}

func (p printer) InvalidateTags(_ context.Context, tags ...string) error {
	fmt.Printf("%s: invalidate tags %s\n", p, strings.Join(tags, ", "))
	return nil
}

func (p printer) Flush(context.Context) error {
	fmt.Printf("%s: flush\n", p)
	return nil
}

func ExampleEngine() {
	engine, err := cdc.New(&cdc.Options{
		Rules: []cdc.Rule{
			{Table: "public.users", Namespace: "user", Keys: []string{"{id}"}, Tags: []string{"company:{company_id}"}},
			{Table: "public.users", Namespace: "user_by_email", Keys: []string{"{email}"}},
		},
		// In a service: the namespaces' *tiered.Invalidator.
		Targets: map[string]cdc.Target{"user": printer("user"), "user_by_email": printer("user_by_email")},
	})
	if err != nil {
		panic(err)
	}
	users := cdc.Table{Schema: "public", Name: "users"}
	err = engine.Apply(context.Background(), []cdc.Event{{
		Table:  users,
		Op:     cdc.Update, // user 42 moved to company 11 and changed address
		Before: cdc.Row{"id": "42", "email": "ada@old.example", "company_id": "10"},
		After:  cdc.Row{"id": "42", "email": "ada@new.example", "company_id": "11"},
	}})
	fmt.Println(err)
	// Output:
	// user: delete 42
	// user: invalidate tags company:10, company:11
	// user_by_email: delete ada@old.example, ada@new.example
	// <nil>
}
