package main

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/kairos-engine/kairos/models/nba"
)

// obdRow is one logged impression of the Open Bandit Dataset.
type obdRow struct {
	item       int
	position   int // 1..3
	click      bool
	propensity float64
}

// readOBD reads a campaign's log (random/men/men.csv, ...) and its number
// of items (item_context.csv rows).
func readOBD(dir, policy, campaign string) ([]obdRow, int, error) {
	base := filepath.Join(dir, policy, campaign)
	f, err := os.Open(filepath.Join(base, campaign+".csv"))
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	header, err := r.Read()
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", f.Name(), err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[h] = i
	}
	for _, need := range []string{"item_id", "position", "click", "propensity_score"} {
		if _, ok := col[need]; !ok {
			return nil, 0, fmt.Errorf("%s: no column %q", f.Name(), need)
		}
	}
	var rows []obdRow
	for line := 2; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, 0, fmt.Errorf("%s:%d: %w", f.Name(), line, err)
		}
		item, err1 := strconv.Atoi(rec[col["item_id"]])
		pos, err2 := strconv.Atoi(rec[col["position"]])
		click, err3 := strconv.Atoi(rec[col["click"]])
		prop, err4 := strconv.ParseFloat(rec[col["propensity_score"]], 64)
		if err := errors.Join(err1, err2, err3, err4); err != nil || pos < 1 || pos > 3 || prop <= 0 {
			return nil, 0, fmt.Errorf("%s:%d: bad row: %v", f.Name(), line, err)
		}
		rows = append(rows, obdRow{item: item, position: pos, click: click == 1, propensity: prop})
	}
	items, err := os.ReadFile(filepath.Join(base, "item_context.csv"))
	if err != nil {
		return nil, 0, err
	}
	n := strings.Count(strings.TrimSpace(string(items)), "\n") // rows minus the header
	for _, row := range rows {
		if row.item < 0 || row.item >= n {
			return nil, 0, fmt.Errorf("%s: item %d outside the %d items", f.Name(), row.item, n)
		}
	}
	return rows, n, nil
}

// obdCatalogue makes one action per item, shown in the three positions
// (placements pos-1..pos-3). The prior is weak and centred near the
// shop's click-through rate (0.5%).
func obdCatalogue(items int) (*nba.Catalogue, error) {
	var b strings.Builder
	b.WriteString("version: obd\ncontrol: {share: 0}\ndefaults: {prior: {alpha: 1, beta: 199}, stop_after_conversion: false}\nactions:\n")
	for i := range items {
		fmt.Fprintf(&b, "  - {id: item-%d, placements: [pos-1, pos-2, pos-3], value: 1}\n", i)
	}
	return nba.ParseCatalogue("obd.yaml", []byte(b.String()))
}

func obdKey(item, position int) nba.Key {
	return nba.Key{Action: "item-" + strconv.Itoa(item), Group: "pos-" + strconv.Itoa(position) + "/other"}
}

// replayResult is an off-policy estimate of a policy's CTR on a random log.
type replayResult struct {
	// ipw: inverse propensity weighting with the policy's probability of
	// the logged item, π(item | position), estimated by drawing the
	// Thompson policy piDraws times at each refresh. Every logged click
	// contributes π/propensity, so its variance is far lower than
	// counting only the rows where one sampled choice matched.
	ipw, ipwSE float64
	// match: the replay estimator (Li et al. 2011): the IPW of the
	// sampled choice, 1{choice = item}·click/propensity.
	match, matchSE float64
	matched        int // rows where the sampled choice was the logged item
	clicks         int // clicks among them
}

const piDraws = 400

// replay runs the Thompson policy over the random log in time order (Li et
// al. 2011): where the policy's choice for the row's position equals the
// logged item, the row counts with weight 1/propensity and its click
// updates the policy; other rows count zero. warm, if not nil, are
// statistics learnt beforehand (from the other log).
func replay(cat *nba.Catalogue, rows []obdRow, warm *nba.Stats, seed uint64, refresh int) replayResult {
	stats := nba.NewStats()
	if warm != nil {
		stats.Merge(warm)
	}
	policy := nba.NewPolicy(cat, stats)
	x := &nba.Context{}
	out := make([]nba.Choice, 1)
	placements := []string{"", "pos-1", "pos-2", "pos-3"}
	var res replayResult
	var sum, sum2, esum, esum2 float64
	pi := make([][]float64, 4)
	index := map[string]int{}
	for i, a := range cat.Actions() {
		index[a.ID] = i
	}
	estimate := func(refresh int) {
		for pos := 1; pos <= 3; pos++ {
			pi[pos] = make([]float64, len(cat.Actions()))
			x.Placement = placements[pos]
			for k := range piDraws {
				var id nba.DecisionID
				id[0], id[1], id[2], id[3] = byte(k), byte(k>>8), byte(pos), 0xee
				id[4], id[5], id[6] = byte(refresh), byte(refresh>>8), byte(refresh>>16)
				id[8] = byte(seed)
				d := policy.Decide(x, nil, id, out)
				pi[pos][index[d.Choices[0].Action.ID]] += 1.0 / piDraws
			}
		}
	}
	estimate(0)
	for i, row := range rows {
		x.Placement = placements[row.position]
		var id nba.DecisionID
		for k := range 8 {
			id[k] = byte(uint64(i) >> (8 * k))
			id[8+k] = byte(seed >> (8 * k))
		}
		d := policy.Decide(x, nil, id, out)
		term := 0.0
		if d.Choices[0].Action.ID == "item-"+strconv.Itoa(row.item) {
			res.matched++
			c := nba.Counts{Impressions: 1}
			if row.click {
				res.clicks++
				c.Conversions = 1
				term = 1 / row.propensity
			}
			stats.Add(obdKey(row.item, row.position), c)
		}
		sum += term
		sum2 += term * term
		if row.click {
			e := pi[row.position][row.item] / row.propensity
			esum += e
			esum2 += e * e
		}
		if (i+1)%refresh == 0 {
			policy = nba.NewPolicy(cat, stats)
			estimate(i + 1)
		}
	}
	n := float64(len(rows))
	res.match = sum / n
	res.matchSE = math.Sqrt((sum2/n - res.match*res.match) / n)
	res.ipw = esum / n
	res.ipwSE = math.Sqrt((esum2/n - res.ipw*res.ipw) / n)
	return res
}

func runOBD(dir string, runs int) error {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		fmt.Printf("Open Bandit Dataset not found at %s: skipping the off-policy replay.\n", dir)
		return nil
	}
	fmt.Printf("Open Bandit Dataset sample (%s), %d replays per row with different decision seeds, policy refreshed every 100 rows.\n\n", dir, runs)
	fmt.Println("| campaign | start | logged random CTR (±95%) | Thompson CTR, IPW with π (±95%) | Thompson / random | replay (matched rows only) CTR (±95%) | matched rows, clicks (mean) |")
	fmt.Println("| --- | --- | --- | --- | --- | --- | --- |")
	for _, campaign := range []string{"men", "women"} {
		rows, items, err := readOBD(dir, "random", campaign)
		if err != nil {
			return err
		}
		bts, _, err := readOBD(dir, "bts", campaign)
		if err != nil {
			return err
		}
		cat, err := obdCatalogue(items)
		if err != nil {
			return err
		}
		clicks := 0
		for _, r := range rows {
			if r.click {
				clicks++
			}
		}
		ctr := float64(clicks) / float64(len(rows))
		ctrSE := math.Sqrt(ctr * (1 - ctr) / float64(len(rows)))
		warm := nba.NewStats()
		for _, r := range bts {
			c := nba.Counts{Impressions: 1}
			if r.click {
				c.Conversions = 1
			}
			warm.Add(obdKey(r.item, r.position), c)
		}
		for _, start := range []struct {
			name  string
			stats *nba.Stats
		}{{"cold (prior only)", nil}, {"warm (learnt from the bts log)", warm}} {
			var m replayResult
			for s := range runs {
				r := replay(cat, rows, start.stats, uint64(s+1), 100)
				m.ipw += r.ipw / float64(runs)
				m.ipwSE += r.ipwSE / float64(runs)
				m.match += r.match / float64(runs)
				m.matchSE += r.matchSE / float64(runs)
				m.matched += r.matched
				m.clicks += r.clicks
			}
			fmt.Printf("| %s | %s | %.3f%% ± %.3f | %.3f%% ± %.3f | %.2f | %.3f%% ± %.3f | %d, %.1f |\n",
				campaign, start.name, 100*ctr, 196*ctrSE, 100*m.ipw, 196*m.ipwSE, m.ipw/ctr, 100*m.match, 196*m.matchSE, m.matched/runs, float64(m.clicks)/float64(runs))
		}
	}
	return nil
}
