package churn

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// cdnowDir is the reference data, beside the project (see
// /work/shared/data/README.md), resolved from the package directory.
var cdnowDir = filepath.Join("..", "..", "..", "shared", "data", "cdnow")

// The conventions of the literature for CDNOW: calibration 1997-01-01 to
// 1997-09-30 inclusive, weeks, same-day transactions merged.
var cdnowCalibrationEnd = dayNumber(1997, time.September, 30)

// Published estimates (Fader, Hardie & Lee 2005; Fader & Hardie 2013).
var (
	cdnowBG   = BGNBD{R: 0.243, Alpha: 4.414, A: 0.793, B: 2.426}
	cdnowBGLL = -9582.4
	cdnowGG   = GammaGamma{P: 6.25, Q: 3.74, Gamma: 15.44}
	cdnowGGLL = -4055.9
)

func dayNumber(y int, m time.Month, d int) float64 {
	return float64(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

func skipWithoutCDNOW(tb testing.TB) {
	tb.Helper()
	if _, err := os.Stat(filepath.Join(cdnowDir, "CDNOW_sample.txt")); err != nil {
		tb.Skipf("CDNOW reference data not found at %s (see /work/shared/data/README.md): %v", cdnowDir, err)
	}
}

type cdnowPurchases struct {
	days   []int32
	spends []int64 // cents
}

// loadCDNOWTransactions reads CDNOW_sample.txt: master_id sample_id
// yyyymmdd cds dollars, keyed by sample_id (the ID of the summary files).
func loadCDNOWTransactions(tb testing.TB) map[int]*cdnowPurchases {
	tb.Helper()
	f, err := os.Open(filepath.Join(cdnowDir, "CDNOW_sample.txt"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	out := make(map[int]*cdnowPurchases)
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		fs := strings.Fields(sc.Text())
		if len(fs) == 0 {
			continue
		}
		if len(fs) != 5 {
			tb.Fatalf("CDNOW_sample.txt:%d: %d fields, want 5", line, len(fs))
		}
		id, err1 := strconv.Atoi(fs[1])
		date, err2 := time.Parse("20060102", fs[2])
		dollars, err3 := strconv.ParseFloat(fs[4], 64)
		if err := cmpErr(err1, err2, err3); err != nil {
			tb.Fatalf("CDNOW_sample.txt:%d: %v", line, err)
		}
		p := out[id]
		if p == nil {
			p = &cdnowPurchases{}
			out[id] = p
		}
		p.days = append(p.days, int32(date.Unix()/86400))
		p.spends = append(p.spends, int64(math.Round(dollars*100)))
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

func cmpErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// loadCSV reads a CSV with a header into rows of floats keyed by ID.
func loadCSV(tb testing.TB, name string, wantHeader string) map[int][]float64 {
	tb.Helper()
	f, err := os.Open(filepath.Join(cdnowDir, name))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		tb.Fatal(err)
	}
	if got := strings.Join(recs[0], ","); got != wantHeader {
		tb.Fatalf("%s: header %q, want %q", name, got, wantHeader)
	}
	out := make(map[int][]float64, len(recs)-1)
	for i, r := range recs[1:] {
		id, err := strconv.Atoi(r[0])
		if err != nil {
			tb.Fatalf("%s:%d: %v", name, i+2, err)
		}
		vs := make([]float64, len(r)-1)
		for j, s := range r[1:] {
			if vs[j], err = strconv.ParseFloat(s, 64); err != nil {
				tb.Fatalf("%s:%d: %v", name, i+2, err)
			}
		}
		out[id] = vs
	}
	return out
}

// cdnowCustomers builds the calibration-period customers from the
// transactions with FromPurchaseDays, by sample ID.
func cdnowCustomers(tb testing.TB) map[int]Customer {
	tb.Helper()
	txs := loadCDNOWTransactions(tb)
	out := make(map[int]Customer, len(txs))
	for id, p := range txs {
		c, ok := FromPurchaseDays(p.days, p.spends, cdnowCalibrationEnd, Week)
		if !ok {
			tb.Fatalf("customer %d: no purchase in the calibration period", id)
		}
		out[id] = c
	}
	return out
}

func cdnowSummary(tb testing.TB) Summary {
	tb.Helper()
	var s Summary
	for _, c := range cdnowCustomers(tb) {
		if err := s.Add(c); err != nil {
			tb.Fatal(err)
		}
	}
	return s
}

func TestCDNOWCustomersMatchPublishedSummary(t *testing.T) {
	skipWithoutCDNOW(t)
	cs := cdnowCustomers(t)
	summary := loadCSV(t, "cdnow_customers_summary.csv", "ID,frequency,recency,T")
	withTx := loadCSV(t, "cdnow_customers_summary_with_transactions.csv", "ID,x,t_x,T,zbar")
	if len(cs) != 2357 || len(summary) != 2357 || len(withTx) != 2357 {
		t.Fatalf("customers: built %d, summary %d, with transactions %d; want 2357", len(cs), len(summary), len(withTx))
	}
	two := func(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }
	var repeatTx, repeaters int
	for id, c := range cs {
		want, ok := summary[id]
		if !ok {
			t.Fatalf("customer %d missing from the summary file", id)
		}
		// The files round to two decimals; t_x and T are whole days / 7,
		// never at a rounding tie, so equal two-decimal strings are exact.
		got := fmt.Sprintf("%v %s %s", c.X, two(c.Tx), two(c.T))
		if w := fmt.Sprintf("%v %s %s", want[0], two(want[1]), two(want[2])); got != w {
			t.Errorf("customer %d: (x, t_x, T) = %s, summary file says %s", id, got, w)
		}
		wt := withTx[id]
		if w := fmt.Sprintf("%v %s %s", wt[0], two(wt[1]), two(wt[2])); got != w {
			t.Errorf("customer %d: (x, t_x, T) = %s, file with transactions says %s", id, got, w)
		}
		// zbar is a mean of cents, often exactly at a half cent, which the
		// file rounds up and the nearest float may put either side: compare
		// within half a cent.
		if d := math.Abs(c.MeanRepeatSpend - wt[3]); d > 0.005+1e-9 {
			t.Errorf("customer %d: zbar = %.4f, file with transactions says %.2f", id, c.MeanRepeatSpend, wt[3])
		}
		repeatTx += int(c.X)
		if c.X > 0 {
			repeaters++
		}
	}
	if repeatTx != 2457 || repeaters != 946 {
		t.Errorf("calibration: %d repeat transactions by %d customers, want 2457 by 946", repeatTx, repeaters)
	}
}

func TestCDNOWFitBGNBD(t *testing.T) {
	skipWithoutCDNOW(t)
	s := cdnowSummary(t)
	if got := s.BGNBDLogLikelihood(cdnowBG); math.Abs(got-cdnowBGLL) > 0.5 {
		t.Errorf("log-likelihood at the published estimates = %.2f, want about %.1f", got, cdnowBGLL)
	}
	for _, tc := range []struct {
		name string
		warm *BGNBD
	}{
		{"cold", nil},
		{"warm", &BGNBD{R: 0.3, Alpha: 5, A: 1, B: 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, info, err := Fit(t.Context(), s, tc.warm, FitOptions{})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("BG/NBD: r=%.4f α=%.4f a=%.4f b=%.4f LL=%.3f (%d iterations, %v, converged %v)",
				p.R, p.Alpha, p.A, p.B, info.LogLikelihood, info.Iterations, info.Duration, info.Converged)
			checkRel(t, "r", p.R, cdnowBG.R, 0.01)
			checkRel(t, "alpha", p.Alpha, cdnowBG.Alpha, 0.01)
			checkRel(t, "a", p.A, cdnowBG.A, 0.01)
			checkRel(t, "b", p.B, cdnowBG.B, 0.01)
			if math.Abs(info.LogLikelihood-cdnowBGLL) > 0.1 {
				t.Errorf("LL = %.3f, want %.1f ± 0.1", info.LogLikelihood, cdnowBGLL)
			}
			if !info.Converged || info.Customers != 2357 || info.RepeatCustomers != 946 {
				t.Errorf("info = %+v, want converged over 2357 customers, 946 repeat", info)
			}
		})
	}
}

func TestCDNOWPAlive(t *testing.T) {
	// The published per-customer value needs no data file.
	if got := cdnowBG.PAlive(26, 30.857, 31); math.Abs(got-0.9689) > 0.0005 {
		t.Errorf("P(alive | x=26, t_x=30.857, T=31) = %.5f, want 0.9689 ± 0.0005", got)
	}
}

func TestCDNOWFitGammaGamma(t *testing.T) {
	skipWithoutCDNOW(t)
	rows := loadCSV(t, "cdnow_customers_summary_with_transactions.csv", "ID,x,t_x,T,zbar")
	ids := make([]int, 0, len(rows))
	for id := range rows {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var s Summary
	var cs []Customer
	for _, id := range ids {
		r := rows[id]
		c := Customer{X: r[0], Tx: r[1], T: r[2], MeanRepeatSpend: r[3]}
		if c.X == 0 {
			c.Tx = 0
		}
		if err := s.Add(c); err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	if s.SpendCustomers() != 946 {
		t.Fatalf("%d repeat buyers with spend, want 946", s.SpendCustomers())
	}
	g, info, err := FitGammaGamma(t.Context(), s, nil, FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Gamma-Gamma: p=%.4f q=%.4f γ=%.4f LL=%.3f (%d iterations, %v, converged %v)",
		g.P, g.Q, g.Gamma, info.LogLikelihood, info.Iterations, info.Duration, info.Converged)
	checkRel(t, "p", g.P, cdnowGG.P, 0.01)
	checkRel(t, "q", g.Q, cdnowGG.Q, 0.01)
	checkRel(t, "gamma", g.Gamma, cdnowGG.Gamma, 0.01)
	if math.Abs(info.LogLikelihood-cdnowGGLL) > 0.1 {
		t.Errorf("LL = %.3f, want %.1f ± 0.1", info.LogLikelihood, cdnowGGLL)
	}
	if ll := g.LogLikelihood(cs); math.Abs(ll-info.LogLikelihood) > 1e-9*math.Abs(ll) {
		t.Errorf("LogLikelihood over customers %.9f != over the summary %.9f", ll, info.LogLikelihood)
	}
	if !info.Converged {
		t.Errorf("not converged: %+v", info)
	}
}

func checkRel(t *testing.T, name string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol*math.Abs(want) {
		t.Errorf("%s = %.4f, want %.4f ± %.1f%%", name, got, want, 100*tol)
	}
}
