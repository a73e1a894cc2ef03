package kafkasource

import "github.com/twmb/franz-go/pkg/kgo"

// SetAfterApply sets a function called with each batch's records after
// Engine.Apply returned nil for them and before they are committed.
func SetAfterApply(s *Source, f func([]*kgo.Record)) { s.afterApply = f }
