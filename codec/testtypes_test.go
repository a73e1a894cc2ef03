package codec_test

// user is the ~8-field struct the tests, fuzz targets and benchmarks share:
// scalars, one slice and one nested struct.
type user struct {
	ID      int64    `json:"id" msgpack:"id"`
	Name    string   `json:"name" msgpack:"name"`
	Email   string   `json:"email" msgpack:"email"`
	Age     int      `json:"age" msgpack:"age"`
	Score   float64  `json:"score" msgpack:"score"`
	Active  bool     `json:"active" msgpack:"active"`
	Tags    []string `json:"tags" msgpack:"tags"`
	Address address  `json:"address" msgpack:"address"`
}

type address struct {
	Street string `json:"street" msgpack:"street"`
	City   string `json:"city" msgpack:"city"`
	Zip    int    `json:"zip" msgpack:"zip"`
}

func sampleUser() user {
	return user{
		ID:     42,
		Name:   "Ada Lovelace",
		Email:  "ada@example.com",
		Age:    36,
		Score:  99.5,
		Active: true,
		Tags:   []string{"admin", "math", "poet"},
		Address: address{
			Street: "12 St James's Square",
			City:   "London",
			Zip:    1815,
		},
	}
}
