package churn

import (
	"testing"
)

// Read-time figures at CDNOW's parameters (weeks).

var benchSink float64

func BenchmarkPAlive(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		benchSink = cdnowBG.PAlive(26, 30.857, 31)
	}
}

func BenchmarkExpectedPurchases(b *testing.B) {
	for _, bc := range []struct {
		name        string
		t, x, tx, T float64
	}{
		{"next 4 weeks", 4, 2, 30.43, 38.86},               // z = 0.08
		{"next 52 weeks", 52, 2, 30.43, 38.86},             // z = 0.54
		{"new customer 52 weeks", 52, 0, 0, 0},             // z = 0.92
		{"new customer 2 years", 104, 0, 0, 0},             // z = 0.96
		{"new customer 10 years (integral)", 520, 0, 0, 0}, // z = 0.992
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				benchSink = cdnowBG.ExpectedPurchases(bc.t, bc.x, bc.tx, bc.T)
			}
		})
	}
}

func BenchmarkCLV(b *testing.B) {
	for _, bc := range []struct {
		name string
		c    Customer
	}{
		{"repeat customer", Customer{X: 2, Tx: 30.43, T: 38.86, MeanRepeatSpend: 22.35}},
		{"new customer", Customer{}},
	} {
		b.Run(bc.name+"/12 months", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				benchSink = CLV(cdnowBG, cdnowGG, bc.c, 12, 0.01, Week)
			}
		})
	}
}

func BenchmarkFromPurchaseDays(b *testing.B) {
	days := make([]int32, 50)
	spends := make([]int64, 50)
	for i := range days {
		days[i] = int32(10000 + 9*i)
		spends[i] = int64(1000 + i)
	}
	b.ReportAllocs()
	for b.Loop() {
		c, _ := FromPurchaseDays(days, spends, 10500, Week)
		benchSink = c.T
	}
}

func BenchmarkFitCDNOW(b *testing.B) {
	skipWithoutCDNOW(b)
	s := cdnowSummary(b)
	b.Run("BG/NBD cold", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := Fit(b.Context(), s, nil, FitOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("BG/NBD warm", func(b *testing.B) {
		warm := cdnowBG
		for b.Loop() {
			if _, _, err := Fit(b.Context(), s, &warm, FitOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Gamma-Gamma cold", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := FitGammaGamma(b.Context(), s, nil, FitOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkSummaryEncodeDecode(b *testing.B) {
	skipWithoutCDNOW(b)
	s := cdnowSummary(b)
	buf, _ := s.AppendBinary(nil)
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf, _ = s.AppendBinary(buf[:0])
		}
		b.ReportMetric(float64(len(buf)), "bytes")
		b.ReportMetric(float64(s.Entries()), "entries")
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeSummary(buf); err != nil {
				b.Fatal(err)
			}
		}
	})
}
