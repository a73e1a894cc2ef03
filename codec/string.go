package codec

// String is the identity [Codec] for string values: the encoding of a
// string is its bytes. The zero value is ready to use.
type String struct{}

var _ Codec[string] = String{}

// Marshal appends v to dst.
func (String) Marshal(dst []byte, v string) ([]byte, error) {
	return append(dst, v...), nil
}

// Unmarshal sets *v to data as a string (a copy). It never fails.
func (String) Unmarshal(data []byte, v *string) error {
	*v = string(data)
	return nil
}
