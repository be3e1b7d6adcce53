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
	labels          map[string]bool // label names seen on its samples, le and quantile excluded
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
	sampleLabels := map[string][]string{}
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
		} else if i := strings.IndexByte(line, '{'); i > 0 && !strings.HasPrefix(line, "#") {
			sampleLabels[line[:i]] = append(sampleLabels[line[:i]], labelNames(line[i+1:])...)
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
	for series, names := range sampleLabels {
		f, ok := e.families[e.series[series]]
		if !ok {
			continue
		}
		if f.labels == nil {
			f.labels = map[string]bool{}
		}
		for _, n := range names {
			if n != "le" && n != "quantile" {
				f.labels[n] = true
			}
		}
		e.families[f.name] = f
	}
	return e, nil
}

// labelNames returns the label names of a sample's label set, given the
// text after its opening brace: a="x",b="y\"z"} 1
func labelNames(s string) []string {
	var names []string
	for {
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			return names
		}
		names = append(names, strings.TrimLeft(s[:eq], ", "))
		// Skip the quoted value.
		i := eq + 2
		for i < len(s) && s[i] != '"' {
			if s[i] == '\\' {
				i++
			}
			i++
		}
		if i+1 >= len(s) || s[i+1] == '}' {
			return names
		}
		s = s[i+1:]
	}
}

func (f family) labelList() string {
	names := make([]string, 0, len(f.labels))
	for n := range f.labels {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func (e *exported) sortedFamilies() []family {
	out := make([]family, 0, len(e.families))
	for _, f := range e.families {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}
