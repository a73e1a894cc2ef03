package main

import (
	"errors"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// decodePNG reads the PNG file at path or fails the test.
func decodePNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open chart: %v", err)
	}
	defer func() { _ = f.Close() }()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("decode chart: %v", err)
	}
	return img
}

// countColour counts the pixels of img that are exactly c.
func countColour(img image.Image, c color.RGBA) int {
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if color.RGBAModel.Convert(img.At(x, y)) == c {
				n++
			}
		}
	}
	return n
}

func TestChartPNG(t *testing.T) {
	rep := mustParse(t, sampleInput)
	st := defaultChartStyle()
	dir := t.TempDir()

	prevHeight := 0
	for n := 1; n <= len(rep.Scenarios); n++ {
		sub := report{Scenarios: rep.Scenarios[:n]}
		path := filepath.Join(dir, "chart.png")
		if err := writePNG(path, renderChart(sub, st)); err != nil {
			t.Fatalf("writePNG: %v", err)
		}
		img := decodePNG(t, path)
		if w := img.Bounds().Dx(); w != st.Width {
			t.Fatalf("%d scenarios: width %d, want %d", n, w, st.Width)
		}
		h := img.Bounds().Dy()
		if h <= prevHeight {
			t.Fatalf("%d scenarios: height %d, not above %d for one fewer", n, h, prevHeight)
		}
		prevHeight = h

		// One full bar of the tiercache colour per panel at the very least.
		if got, least := countColour(img, st.Highlight), n*st.BarH; got < least {
			t.Errorf("%d scenarios: %d pixels of the tiercache colour, want at least %d", n, got, least)
		}
		if countColour(img, st.Bar) == 0 {
			t.Errorf("%d scenarios: no bar of the other libraries' colour", n)
		}
	}
}

func TestPlotUnits(t *testing.T) {
	rep := mustParse(t, sampleInput+
		"BenchmarkStaleness/tiercache-2   100   1234 ns/op   0 stale-after-delivery/100   3 stale-first/100   0.5 stale-reads/op   0.1 window-p50-ms   0.2 window-p90-ms\n"+
		"BenchmarkGet_MissLoad/tiercache-2   100   1234 ns/op   1 loads/op\n")
	want := map[string][]string{
		"Get_L1Hit":            {"ns/op"},
		"Mixed_Zipf":           {"ops/s", "l1-hit-%"},
		"Stampede/4-instances": {"loads/op"},
		"Staleness":            {"window-p90-ms"},
		"Get_MissLoad":         {"ns/op"},
	}
	for _, sc := range rep.Scenarios {
		if got := plotUnits(sc); !slices.Equal(got, want[sc.Name]) {
			t.Errorf("plotUnits(%s) = %q, want %q", sc.Name, got, want[sc.Name])
		}
	}
}

func TestScalePeak_CutsAnOutlier(t *testing.T) {
	rep := mustParse(t, "BenchmarkZ/a-2 1 10 ns/op 30000 ops/s\n"+
		"BenchmarkZ/b-2 1 10 ns/op 60000 ops/s\n"+
		"BenchmarkZ/c-2 1 10 ns/op 32000 ops/s\n"+
		"BenchmarkZ/d-2 1 10 ns/op 1200000 ops/s\n")
	if got, want := scalePeak(rep.Scenarios[0], "ops/s"), 4*60000.0; got != want {
		t.Errorf("scalePeak = %v, want %v (4 times the median)", got, want)
	}
	rep = mustParse(t, "BenchmarkZ/a-2 1 10 ns/op\nBenchmarkZ/b-2 1 20 ns/op\nBenchmarkZ/c-2 1 30 ns/op\n")
	if got := scalePeak(rep.Scenarios[0], "ns/op"); got != 30 {
		t.Errorf("scalePeak = %v, want the largest value 30", got)
	}
}

func TestBarWidth(t *testing.T) {
	tests := []struct {
		v, peak float64
		want    int
	}{
		{0, 10, 0},
		{10, 10, 500},
		{5, 10, 250},
		{0.001, 10, 1},
		{3, 0, 0},
	}
	for _, tt := range tests {
		if got := barWidth(tt.v, tt.peak, 500); got != tt.want {
			t.Errorf("barWidth(%v, %v, 500) = %d, want %d", tt.v, tt.peak, got, tt.want)
		}
	}
}

func TestASCII(t *testing.T) {
	if got, want := ascii("457 µs [440–470 µs] ✓"), "457 us [440-470 us] ?"; got != want {
		t.Fatalf("ascii = %q, want %q", got, want)
	}
}

func TestRunWritesBothOutputs(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "peers.txt")
	if err := os.WriteFile(in, []byte(sampleInput), 0o644); err != nil {
		t.Fatal(err)
	}
	md := filepath.Join(dir, "out", "peers.md")
	pngPath := filepath.Join(dir, "out", "peers.png")
	var stderr strings.Builder
	if err := run([]string{"-in", in, "-md", md, "-png", pngPath}, &stderr); err != nil {
		t.Fatalf("run: %v (stderr %q)", err, stderr.String())
	}
	text, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(text), "### Mixed_Zipf") {
		t.Errorf("markdown lacks the Mixed_Zipf section:\n%s", text)
	}
	decodePNG(t, pngPath)
}

func TestRunNoBenchmarks(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "empty.txt")
	if err := os.WriteFile(in, []byte("goos: linux\nPASS\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	md := filepath.Join(dir, "peers.md")
	err := run([]string{"-in", in, "-md", md, "-png", ""}, &strings.Builder{})
	if !errors.Is(err, errNoBenchmarks) {
		t.Fatalf("run = %v, want %v", err, errNoBenchmarks)
	}
	if _, statErr := os.Stat(md); !errors.Is(statErr, os.ErrNotExist) {
		t.Errorf("markdown written despite the error: %v", statErr)
	}
}
