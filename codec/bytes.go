package codec

// Bytes is the identity [Codec] for []byte values. Both directions copy:
// Marshal appends v to dst, Unmarshal stores a fresh copy of data, so
// neither side aliases the other's buffer. Nil and empty values encode
// alike and decode to an empty, non-nil slice. The zero value is ready to
// use.
type Bytes struct{}

var _ Codec[[]byte] = Bytes{}

// Marshal appends v to dst.
func (Bytes) Marshal(dst []byte, v []byte) ([]byte, error) {
	return append(dst, v...), nil
}

// Unmarshal sets *v to a copy of data. It never fails.
func (Bytes) Unmarshal(data []byte, v *[]byte) error {
	b := make([]byte, len(data))
	copy(b, data)
	*v = b
	return nil
}
