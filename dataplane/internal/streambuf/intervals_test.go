package streambuf

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func ranges(s *Intervals) []Range {
	var out []Range
	for i := range s.Len() {
		out = append(out, s.At(i))
	}
	return out
}

func TestIntervalsInsert(t *testing.T) {
	tests := []struct {
		name  string
		start []Range // inserted first
		add   Range
		max   int
		ok    bool
		want  []Range
	}{
		{"empty set", nil, Range{5, 10}, 0, true, []Range{{5, 10}}},
		{"empty range is a no-op", []Range{{1, 2}}, Range{7, 7}, 0, true, []Range{{1, 2}}},
		{"inverted range is a no-op", []Range{{1, 2}}, Range{9, 7}, 0, true, []Range{{1, 2}}},
		{"disjoint before", []Range{{10, 20}}, Range{1, 5}, 0, true, []Range{{1, 5}, {10, 20}}},
		{"disjoint after", []Range{{10, 20}}, Range{25, 30}, 0, true, []Range{{10, 20}, {25, 30}}},
		{"adjacent left merges", []Range{{10, 20}}, Range{5, 10}, 0, true, []Range{{5, 20}}},
		{"adjacent right merges", []Range{{10, 20}}, Range{20, 22}, 0, true, []Range{{10, 22}}},
		{"overlap", []Range{{10, 20}}, Range{15, 25}, 0, true, []Range{{10, 25}}},
		{"contained", []Range{{10, 20}}, Range{12, 13}, 0, true, []Range{{10, 20}}},
		{"bridges three", []Range{{0, 2}, {4, 6}, {8, 10}, {20, 30}}, Range{1, 9}, 0, true, []Range{{0, 10}, {20, 30}}},
		{"fills a hole exactly", []Range{{0, 2}, {4, 6}}, Range{2, 4}, 0, true, []Range{{0, 6}}},
		{"at bound, new range refused", []Range{{0, 2}, {4, 6}}, Range{10, 12}, 2, false, []Range{{0, 2}, {4, 6}}},
		{"at bound, merge allowed", []Range{{0, 2}, {4, 6}}, Range{6, 12}, 2, true, []Range{{0, 2}, {4, 12}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewIntervals(tt.max)
			for _, r := range tt.start {
				if !s.Insert(r.Start, r.End) {
					t.Fatalf("setup Insert%v failed", r)
				}
			}
			predicted := s.LenAfterInsert(tt.add.Start, tt.add.End)
			if got := s.Insert(tt.add.Start, tt.add.End); got != tt.ok {
				t.Fatalf("Insert = %v, want %v", got, tt.ok)
			}
			if got := ranges(s); !slices.Equal(got, tt.want) {
				t.Fatalf("ranges = %v, want %v", got, tt.want)
			}
			if tt.ok && predicted != s.Len() {
				t.Fatalf("LenAfterInsert = %d, Len after = %d", predicted, s.Len())
			}
		})
	}
}

func TestIntervalsRemove(t *testing.T) {
	tests := []struct {
		name  string
		start []Range
		del   Range
		max   int
		ok    bool
		want  []Range
	}{
		{"from empty", nil, Range{1, 5}, 0, true, nil},
		{"empty range", []Range{{0, 10}}, Range{5, 5}, 0, true, []Range{{0, 10}}},
		{"whole range", []Range{{0, 10}}, Range{0, 10}, 0, true, nil},
		{"superset of two", []Range{{0, 3}, {5, 8}, {20, 30}}, Range{0, 10}, 0, true, []Range{{20, 30}}},
		{"trim left", []Range{{0, 10}}, Range{0, 4}, 0, true, []Range{{4, 10}}},
		{"trim right", []Range{{0, 10}}, Range{6, 12}, 0, true, []Range{{0, 6}}},
		{"split", []Range{{0, 10}}, Range{3, 5}, 0, true, []Range{{0, 3}, {5, 10}}},
		{"split refused at bound", []Range{{0, 10}}, Range{3, 5}, 1, false, []Range{{0, 10}}},
		{"across ranges", []Range{{0, 4}, {6, 10}, {12, 14}}, Range{2, 8}, 0, true, []Range{{0, 2}, {8, 10}, {12, 14}}},
		{"in a hole", []Range{{0, 4}, {6, 10}}, Range{4, 6}, 0, true, []Range{{0, 4}, {6, 10}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewIntervals(0)
			for _, r := range tt.start {
				s.Insert(r.Start, r.End)
			}
			s.SetMax(tt.max)
			if got := s.Remove(tt.del.Start, tt.del.End); got != tt.ok {
				t.Fatalf("Remove = %v, want %v", got, tt.ok)
			}
			if got := ranges(s); !slices.Equal(got, tt.want) {
				t.Fatalf("ranges = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestIntervalsQueries(t *testing.T) {
	var s Intervals // zero value is ready
	if s.Max() != DefaultMaxIntervals {
		t.Fatalf("zero Max = %d", s.Max())
	}
	if _, ok := s.First(); ok {
		t.Fatal("First on empty set")
	}
	if _, ok := s.Last(); ok {
		t.Fatal("Last on empty set")
	}
	s.Insert(10, 20)
	s.Insert(30, 40)
	tests := []struct {
		x    uint64
		want bool
	}{{9, false}, {10, true}, {19, true}, {20, false}, {29, false}, {30, true}, {39, true}, {40, false}}
	for _, tt := range tests {
		if got := s.Contains(tt.x); got != tt.want {
			t.Errorf("Contains(%d) = %v", tt.x, got)
		}
	}
	if !s.ContainsRange(12, 20) || s.ContainsRange(15, 31) || !s.ContainsRange(50, 50) || s.ContainsRange(20, 30) {
		t.Error("ContainsRange")
	}
	if f, _ := s.First(); f != (Range{10, 20}) {
		t.Errorf("First = %v", f)
	}
	if l, _ := s.Last(); l != (Range{30, 40}) {
		t.Errorf("Last = %v", l)
	}
	if s.Total() != 20 {
		t.Errorf("Total = %d", s.Total())
	}
	if s.Overlapping(20) != 1 || s.Overlapping(19) != 0 || s.Overlapping(40) != 2 {
		t.Errorf("Overlapping = %d %d %d", s.Overlapping(20), s.Overlapping(19), s.Overlapping(40))
	}
	s.RemoveBelow(15)
	if got := ranges(&s); !slices.Equal(got, []Range{{15, 20}, {30, 40}}) {
		t.Errorf("RemoveBelow(15) = %v", got)
	}
	s.RemoveBelow(35)
	if got := ranges(&s); !slices.Equal(got, []Range{{35, 40}}) {
		t.Errorf("RemoveBelow(35) = %v", got)
	}
	s.Clear()
	if s.Len() != 0 || (Range{5, 3}).Len() != 0 || (Range{3, 5}).Len() != 2 {
		t.Error("Clear / Range.Len")
	}
}

func TestIntervalsCoalesceAtBound(t *testing.T) {
	s := NewIntervals(2)
	s.Insert(0, 10)
	s.Insert(100, 110)
	s.coalesceInsert(20, 30) // nearer to [0,10)
	s.coalesceInsert(90, 95) // nearer to [100,110)
	s.coalesceInsert(200, 210)
	s.Insert(0, 0)
	if got := ranges(s); !slices.Equal(got, []Range{{0, 30}, {90, 210}}) {
		t.Fatalf("got %v", got)
	}
	s = NewIntervals(1)
	s.Insert(100, 110)
	s.coalesceInsert(5, 7)
	if got := ranges(s); !slices.Equal(got, []Range{{5, 110}}) {
		t.Fatalf("got %v", got)
	}
	for _, r := range [][2]uint64{{0, 3}, {200, 300}, {50, 60}} {
		s.coalesceInsert(r[0], r[1])
		for x := r[0]; x < r[1]; x++ {
			if !s.Contains(x) {
				t.Fatalf("coalesceInsert%v lost offset %d: %v", r, x, ranges(s))
			}
		}
	}
}

// TestIntervalsModel checks Insert and Remove against a bitmap.
func TestIntervalsModel(t *testing.T) {
	const span = 200
	for seed := range uint64(50) {
		rng := rand.New(rand.NewPCG(seed, 1))
		maxN := 1 + rng.IntN(12)
		s := NewIntervals(maxN)
		var bits [span]bool
		for range 400 {
			a := uint64(rng.IntN(span))
			b := min(a+uint64(rng.IntN(30)), span)
			next := bits
			v := rng.IntN(3) != 0
			for x := a; x < b; x++ {
				next[x] = v
			}
			runs := countRuns(next[:])
			var ok bool
			if v {
				if s.LenAfterInsert(a, b) != runs {
					t.Fatalf("seed %d: LenAfterInsert(%d,%d) = %d, want %d", seed, a, b, s.LenAfterInsert(a, b), runs)
				}
				ok = s.Insert(a, b)
			} else {
				ok = s.Remove(a, b)
			}
			if want := runs <= maxN || runs <= s.Len(); ok != want {
				t.Fatalf("seed %d: op(%d,%d,%v) ok=%v want %v", seed, a, b, v, ok, want)
			}
			if ok {
				bits = next
			}
			for x := range uint64(span) {
				if s.Contains(x) != bits[x] {
					t.Fatalf("seed %d: Contains(%d) = %v, model %v; %v", seed, x, !bits[x], bits[x], ranges(s))
				}
			}
			if s.Len() != countRuns(bits[:]) {
				t.Fatalf("seed %d: Len = %d, runs %d (not merged?)", seed, s.Len(), countRuns(bits[:]))
			}
		}
	}
}

func countRuns(b []bool) int {
	n := 0
	for i, v := range b {
		if v && (i == 0 || !b[i-1]) {
			n++
		}
	}
	return n
}
