package store

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// axePerNumber is how many AXE bindings the harness puts on one X: a tenth
// of the 10,000 extensions of the default length, so random extension
// allocation stays far from a full X.
const axePerNumber = 1000

// scaleMix is how many bindings of each model a run builds.
type scaleMix struct{ axb, axe, axn int }

func (m scaleMix) String() string {
	return fmt.Sprintf("AXB %d, AXE %d, AXN %d", m.axb, m.axe, m.axn)
}

// parseMix reads "AXB/AXE/AXN" percentages that add up to 100.
func parseMix(s string) ([3]int, error) {
	var pct [3]int
	parts := strings.Split(s, "/")
	if len(parts) != 3 {
		return pct, fmt.Errorf("mix %q: want AXB/AXE/AXN percentages, e.g. 80/15/5", s)
	}
	sum := 0
	for i, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil || v < 0 {
			return pct, fmt.Errorf("mix %q: %q is not a percentage", s, p)
		}
		pct[i] = v
		sum += v
	}
	if sum != 100 {
		return pct, fmt.Errorf("mix %q adds up to %d, not 100", s, sum)
	}
	return pct, nil
}

// scalePlan says what the fill creates: binding i of n is a pure function
// of i (model, X, parties, expiry), so nothing of size n is held in memory
// and the resident-memory figure is the store's.
//
// Placement. An X holds one AXN, or AXE bindings, never both (the any-caller
// slot); AXB pairs go anywhere. AXE bindings take the last axeNumbers
// numbers of the pool, axePerNumber each, with X given and the extension
// left to the store. AXN bindings take one number each from the first,
// with X given. So the pool holds at most size-axeNumbers AXN: asked for 5%
// of 1,000,000 (50,000) on 10,000 numbers, the harness builds 9,850 and
// makes up the difference with AXB, and the summary says so (capped). AXB
// bindings leave X to the allocator, as an API client would.
type scalePlan struct {
	n, size    int
	asked      [3]int
	mix        scaleMix
	axeNumbers int
	capped     int // AXN asked for but not built (made up with AXB)
	sweep      int // bindings expiring at sweepAt
	step       int // coprime to n: slot(i) spreads the models over the fill
	createdAt  time.Time
	sweepAt    time.Time // one instant for every binding of the sweep
	liveUntil  time.Time // everything else
}

func newScalePlan(n, size, sweep int, pct [3]int, now time.Time) (scalePlan, error) {
	p := scalePlan{n: n, size: size, asked: pct, sweep: sweep, createdAt: now,
		sweepAt: now.Add(time.Hour).Truncate(time.Second), liveUntil: now.Add(30 * 24 * time.Hour)}
	switch {
	case n <= 0 || size <= 0:
		return p, fmt.Errorf("bindings (%d) and pool size (%d) must be positive", n, size)
	case sweep < 0 || sweep >= n:
		return p, fmt.Errorf("sweep %d must be at least 0 and below bindings %d (routing needs live bindings during it)", sweep, n)
	}
	p.mix.axe = n * pct[1] / 100
	p.mix.axn = n * pct[2] / 100
	p.axeNumbers = (p.mix.axe + axePerNumber - 1) / axePerNumber
	if p.axeNumbers > size {
		return p, fmt.Errorf("%d AXE bindings need %d numbers at %d each; the pool has %d", p.mix.axe, p.axeNumbers, axePerNumber, size)
	}
	if room := size - p.axeNumbers; p.mix.axn > room {
		p.capped = p.mix.axn - room
		p.mix.axn = room
	}
	p.mix.axb = n - p.mix.axe - p.mix.axn
	p.step = n * 618 / 1000
	for gcd(p.step, n) != 1 {
		p.step++ // bounded: step = n+1 is coprime to n
	}
	return p, nil
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// describe is the mix line of the summary.
func (p scalePlan) describe() string {
	s := fmt.Sprintf("%d bindings (%v; asked %d/%d/%d) over %d numbers", p.n, p.mix, p.asked[0], p.asked[1], p.asked[2], p.size)
	if p.capped > 0 {
		s += fmt.Sprintf("; AXN capped at %d (one per number, none on the %d number(s) holding the AXE), %d more AXB instead", p.mix.axn, p.axeNumbers, p.capped)
	}
	return s
}

func scaleNumber(i int) string { return fmt.Sprintf("170%08d", i) }

func (p scalePlan) numbers() []string {
	out := make([]string, p.size)
	for i := range out {
		out[i] = scaleNumber(i)
	}
	return out
}

// expires reports whether binding i is one of the sweep: exactly p.sweep of
// the n, evenly spread.
func (p scalePlan) expires(i int) bool { return (i+1)*p.sweep/p.n > i*p.sweep/p.n }

// job is the request for binding i.
func (p scalePlan) job(i int) NewBinding {
	nb := NewBinding{Pool: "scale", ExpiresAt: p.liveUntil}
	if p.expires(i) {
		nb.ExpiresAt = p.sweepAt
	}
	slot := int(int64(i) * int64(p.step) % int64(p.n))
	switch {
	case slot < p.mix.axn:
		nb.Model, nb.X = ModelAXN, scaleNumber(slot)
		nb.A, nb.B = fmt.Sprintf("133%08d", slot), fmt.Sprintf("134%08d", slot)
	case slot < p.mix.axn+p.mix.axe:
		k := slot - p.mix.axn
		nb.Model, nb.X = ModelAXE, scaleNumber(p.size-p.axeNumbers+k%p.axeNumbers)
		nb.A = fmt.Sprintf("132%08d", k)
	default:
		k := slot - p.mix.axn - p.mix.axe
		nb.Model = ModelAXB
		nb.A, nb.B = fmt.Sprintf("130%08d", k), fmt.Sprintf("131%08d", k)
	}
	return nb
}

// allocJob is the j-th request of the allocation sample: an AXB with X left
// to the allocator, for a returning customer (the A of an AXB binding of
// the fill, so the reuse rule has a number to avoid) and a new B.
func (p scalePlan) allocJob(j int) NewBinding {
	return NewBinding{Model: ModelAXB, Pool: "scale", ExpiresAt: p.liveUntil,
		A: fmt.Sprintf("130%08d", j%max(p.mix.axb, 1)), B: fmt.Sprintf("135%08d", j)}
}

func TestScalePlan(t *testing.T) {
	now := epoch
	for _, tc := range []struct {
		name             string
		n, size, sweep   int
		mix              string
		want             scaleMix
		axeNumbers, capd int
		err              bool
	}{
		{"issue 6", 1_000_000, 10_000, 100_000, "80/15/5", scaleMix{840_150, 150_000, 9_850}, 150, 40_150, false},
		{"smoke", 2_000, 100, 200, "80/15/5", scaleMix{1_601, 300, 99}, 1, 1, false},
		{"fits", 10_000, 1_000, 10, "80/15/5", scaleMix{8_000, 1_500, 500}, 2, 0, false},
		{"axb only", 2_000, 100, 200, "100/0/0", scaleMix{2_000, 0, 0}, 0, 0, false},
		{"axe needs more numbers than the pool", 1_000_000, 10, 0, "0/100/0", scaleMix{}, 0, 0, true},
		{"sweep everything", 100, 10, 100, "100/0/0", scaleMix{}, 0, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pct, err := parseMix(tc.mix)
			if err != nil {
				t.Fatal(err)
			}
			p, err := newScalePlan(tc.n, tc.size, tc.sweep, pct, now)
			if tc.err {
				if err == nil {
					t.Fatalf("plan %+v: want an error", p.mix)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.mix != tc.want || p.axeNumbers != tc.axeNumbers || p.capped != tc.capd {
				t.Fatalf("mix %v, %d AXE numbers, %d capped; want %v, %d, %d", p.mix, p.axeNumbers, p.capped, tc.want, tc.axeNumbers, tc.capd)
			}
			if p.n > 100_000 {
				return // the counts above are the arithmetic; walking 1M jobs is slow under -race
			}
			// Walk every job: the counts per model, the sweep and the
			// placement rules hold for the requests themselves.
			var got scaleMix
			sweep := 0
			axn := map[string]bool{}
			axe := map[string]int{}
			for i := range p.n {
				nb := p.job(i)
				if nb.ExpiresAt.Equal(p.sweepAt) {
					sweep++
				}
				switch nb.Model {
				case ModelAXB:
					got.axb++
				case ModelAXE:
					got.axe++
					axe[nb.X]++
				case ModelAXN:
					got.axn++
					if axn[nb.X] {
						t.Fatalf("two AXN on %s", nb.X)
					}
					axn[nb.X] = true
				}
			}
			if got != p.mix || sweep != tc.sweep {
				t.Fatalf("jobs hold %v and %d expiring; plan says %v and %d", got, sweep, p.mix, tc.sweep)
			}
			for x, c := range axe {
				if axn[x] || c > axePerNumber {
					t.Fatalf("%s holds %d AXE (AXN too: %v)", x, c, axn[x])
				}
			}
		})
	}
}

func TestParseMix(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want [3]int
		err  bool
	}{
		{"80/15/5", [3]int{80, 15, 5}, false},
		{"100/0/0", [3]int{100, 0, 0}, false},
		{"80/15", [3]int{}, true},
		{"80/15/6", [3]int{}, true},
		{"80/-5/25", [3]int{}, true},
		{"a/b/c", [3]int{}, true},
	} {
		got, err := parseMix(tc.in)
		if (err != nil) != tc.err || (!tc.err && got != tc.want) {
			t.Errorf("parseMix(%q) = %v, %v", tc.in, got, err)
		}
	}
}
