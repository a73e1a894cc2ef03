package l1_test

import (
	"fmt"
	"time"

	"github.com/tiercache/tiercache/l1"
)

func ExampleRistretto() {
	s, err := l1.NewRistretto(l1.Options{MaxCost: 1 << 20})
	if err != nil {
		panic(err)
	}
	defer s.Close()
	s.Set("user:42", "Ada", 3, time.Minute)
	s.Wait() // the Set is visible once Wait returns
	v, ok := s.Get("user:42")
	fmt.Println(v, ok)
	// Output: Ada true
}

func ExampleOtter() {
	s, err := l1.NewOtter(l1.Options{MaxCost: 1 << 20})
	if err != nil {
		panic(err)
	}
	defer s.Close()
	s.Set("user:42", "Ada", 3, time.Minute) // visible at once: no Wait needed
	v, ok := s.Get("user:42")
	fmt.Println(v, ok)
	// Output: Ada true
}
