// Package loader defines how a cache fetches values it does not hold, and
// makes sure each missing key is fetched once however many callers ask.
//
// A [Loader] loads one key; [Func] adapts a plain function. A [BatchLoader]
// loads many keys in one call; [BatchFunc] adapts a function. A loader
// reports an absent key with [ErrNotFound] (the tiered cache may cache that
// answer for a while).
//
// [Group] is a generic singleflight that respects contexts: every caller
// waits for the shared load only as long as its own context allows, and a
// caller that gives up does not cancel the load the others wait on. A panic
// in the load reaches every waiter as a [*PanicError].
//
//	var g loader.Group[int64, User]
//	u, err, shared := g.Do(ctx, 42, func() (User, error) {
//		return db.User(loadCtx, 42)
//	})
package loader
