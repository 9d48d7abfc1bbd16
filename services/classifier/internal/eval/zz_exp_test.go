package eval

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mxgate/mxgate/services/classifier/internal/model"
)

func expVariants() map[string]func(*model.Params) {
	return map[string]func(*model.Params){
		"base": func(p *model.Params) {},
		"min300": func(p *model.Params) { p.MinFeatures = 300 },
		"min1000": func(p *model.Params) { p.MinFeatures = 1000 },
		"bias1": func(p *model.Params) { p.BiasRate = 1 },
		"hinge": func(p *model.Params) { p.Hinge = 1; p.Rate = 2 },
		"hinge8": func(p *model.Params) { p.Hinge = 8; p.Rate = 2 },
	}
}

func TestZZExp(t *testing.T) {
	if os.Getenv("MXEXP") == "" {
		t.Skip()
	}
	dir := "../../../../../shared/corpus/spamassassin"
	ham, _ := LoadDir(filepath.Join(dir, "ham"), false)
	spam, _ := LoadDir(filepath.Join(dir, "spam"), true)
	files := append(ham, spam...)
	k, _ := strconv.Atoi(os.Getenv("MXK"))
	if k == 0 {
		k = 10
	}
	seeds := []uint64{1, 2}
	if s := os.Getenv("MXSEEDS"); s != "" {
		seeds = nil
		for _, f := range strings.Split(s, ",") {
			v, _ := strconv.ParseUint(f, 10, 64)
			seeds = append(seeds, v)
		}
	}
	spamL := make([]bool, len(files))
	hard := make([]bool, len(files))
	for i, f := range files {
		spamL[i] = f.Spam
		hard[i] = !f.Spam && strings.HasPrefix(f.Group(), "hard-ham")
	}
	vs := expVariants()
	names := strings.Split(os.Getenv("MXV"), ",")
	for _, name := range names {
		p := model.DefaultParams()
		vs[name](&p)
		ex := Examples(p, files)
		for _, seed := range seeds {
			scores, err := CrossValidate(context.Background(), p, ex, k, seed, nil)
			if err != nil {
				t.Fatal(err)
			}
			mt := Compute(scores, spamL, hard, 3)
			fmt.Printf("%-12s k=%d seed=%d  0.1%%=%.2f 0.5%%=%.2f 1%%=%.2f roca=%.4f  thr3: R=%.2f F=%.2f hard=%.2f\n", name, k, seed,
				mt.RecallAtFPR[0.001]*100, mt.RecallAtFPR[0.005]*100, mt.RecallAtFPR[0.01]*100, mt.OneMinusROCA, mt.Recall*100, mt.FPR*100, mt.HardHamFPR*100)
			if os.Getenv("MXTOP") != "" {
				type hs struct {
					s float64
					f string
				}
				var h []hs
				var hsc []float64
				for i, f := range files {
					if !f.Spam {
						h = append(h, hs{scores[i], filepath.Base(f.Path)})
						hsc = append(hsc, scores[i])
					}
				}
				slices.SortFunc(h, func(a, b hs) int { return -cmpF(a.s, b.s) })
				for _, x := range h[:8] {
					fmt.Printf("   ham %.3f %s\n", x.s, x.f)
				}
				slices.Sort(hsc)
				for _, q := range []float64{0.5, 0.9, 0.95, 0.98, 0.99, 0.995} {
					fmt.Printf("   ham q%.3f = %.3f\n", q, hsc[int(q*float64(len(hsc)))])
				}
				var ssc []float64
				for i, f := range files {
					if f.Spam {
						ssc = append(ssc, scores[i])
					}
				}
				slices.Sort(ssc)
				for _, q := range []float64{0.005, 0.01, 0.02, 0.05} {
					fmt.Printf("   spam q%.3f = %.3f\n", q, ssc[int(q*float64(len(ssc)))])
				}
			}
		}
	}
}

func cmpF(a, b float64) int {
	if a < b {
		return -1
	}
	if a > b {
		return 1
	}
	return 0
}
