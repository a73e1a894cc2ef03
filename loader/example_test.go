package loader_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/tiercache/tiercache/loader"
)

func ExampleGroup() {
	var g loader.Group[string, int]
	v, err, shared := g.Do(context.Background(), "answer", func() (int, error) {
		return 42, nil
	})
	fmt.Println(v, err, shared)
	// Output: 42 <nil> false
}

func ExamplePanicError() {
	var g loader.Group[string, int]
	_, err, _ := g.Do(context.Background(), "k", func() (int, error) { panic("boom") })
	var pe *loader.PanicError
	fmt.Println(errors.As(err, &pe), pe.Value, errors.Is(err, loader.ErrPanicked))
	// Output: true boom true
}

func ExampleFunc() {
	var l loader.Loader[int, string] = loader.Func[int, string](func(ctx context.Context, id int) (string, error) {
		if id < 0 {
			return "", loader.ErrNotFound
		}
		return fmt.Sprint("user-", id), nil
	})
	v, _ := l.Load(context.Background(), 7)
	_, err := l.Load(context.Background(), -1)
	fmt.Println(v, errors.Is(err, loader.ErrNotFound))
	// Output: user-7 true
}
