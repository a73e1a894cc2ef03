package codec

// appendWriter is an io.Writer and io.ByteWriter that appends to a slice.
// Encoders write straight into the caller's dst through it, so Marshal needs
// no intermediate buffer and no final copy.
type appendWriter struct {
	b []byte
}

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

func (w *appendWriter) WriteByte(c byte) error {
	w.b = append(w.b, c)
	return nil
}

func (w *appendWriter) WriteString(s string) (int, error) {
	w.b = append(w.b, s...)
	return len(s), nil
}
