package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// family is one metric family of a scrape.
type family struct {
	name, typ, help string
}

// exported is what a /metrics scrape exports, with the series names each
// family answers to in PromQL (a histogram's _bucket, _sum and _count).
type exported struct {
	families map[string]family
	series   map[string]string // series name -> family name
}

func readScrape(path string) (*exported, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("scrape: %w", err)
	}
	defer f.Close()
	return parseScrape(f)
}

func parseScrape(r io.Reader) (*exported, error) {
	e := &exported{families: map[string]family{}, series: map[string]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "# HELP "); ok {
			name, help, _ := strings.Cut(rest, " ")
			f := e.families[name]
			f.name, f.help = name, help
			e.families[name] = f
		} else if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, typ, _ := strings.Cut(rest, " ")
			f := e.families[name]
			f.name, f.typ = name, typ
			e.families[name] = f
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(e.families) == 0 {
		return nil, fmt.Errorf("scrape has no metric families")
	}
	for name, f := range e.families {
		e.series[name] = name
		switch f.typ {
		case "histogram":
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				e.series[name+s] = name
			}
		case "summary":
			for _, s := range []string{"_sum", "_count"} {
				e.series[name+s] = name
			}
		}
	}
	return e, nil
}

func (e *exported) sortedFamilies() []family {
	out := make([]family, 0, len(e.families))
	for _, f := range e.families {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}
