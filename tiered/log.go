package tiered

import (
	"log/slog"
	"time"
)

const (
	slogInfo = slog.LevelInfo
	slogWarn = slog.LevelWarn
)

func attrCache(name string) slog.Attr        { return slog.String("cache", name) }
func attrKey(key string) slog.Attr           { return slog.String("key", key) }
func attrOp(op string) slog.Attr             { return slog.String("op", op) }
func attrErr(err error) slog.Attr            { return slog.Any("err", err) }
func attrCooldown(d time.Duration) slog.Attr { return slog.Duration("cooldown", d) }
func attrReason(r string) slog.Attr          { return slog.String("reason", r) }
func attrTag(t string) slog.Attr             { return slog.String("tag", t) }
func attrKeys(n int) slog.Attr               { return slog.Int("keys", n) }
