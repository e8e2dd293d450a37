package trainer

import (
	"fmt"
	"os"
	"path/filepath"
)

// checkpoint saves the checkpoint of st.Step from every rank: rank 0 writes the weights (the same
// on every rank) and creates the optimizer file at full size; then each rank that holds optimizer
// state writes its range of it (rank 0 alone when replicated, every rank in parallel when
// sharded); then rank 0 writes state.json and renames the folder into place. The ranks agree
// after each phase, so a failure on any rank leaves no checkpoint and the previous one whole, and
// no rank runs ahead of a checkpoint. Sharded, every rank writes into the run folder: it must be
// on a filesystem every rank sees.
func checkpoint(run *runFolder, l *learner, st State, keep int) error {
	d := l.dist
	tmp := tempCheckpoint(run.dir, st.Step)
	var err error
	if run.primary {
		tmp, err = beginCheckpoint(run.dir, st.Step)
		if err == nil {
			err = writeModelAndHeader(tmp, st.Step, l.flat.N, l.flat.Mixed(), l.opt.updates(), func(p string) error {
				return l.model.Save(p, map[string]string{"step": fmt.Sprint(st.Step), "kind": st.Kind})
			})
		}
	}
	fail := func(err error) error {
		if run.primary {
			os.RemoveAll(tmp)
		}
		return err
	}
	if err := d.agree(err, "preparing the checkpoint"); err != nil {
		return fail(err)
	}
	if lay := l.opt.layout(); lay.writesCheckpoint() {
		var opt *AdamW
		if opt, err = l.state(); err == nil {
			lo, _ := lay.owned()
			if err = writeOptimRange(filepath.Join(tmp, optimFile), lo, opt); err != nil && !run.primary {
				err = fmt.Errorf("%w (a sharded optimizer needs --out on a filesystem every rank sees)", err)
			}
		}
	}
	if err := d.agree(err, "writing the optimizer state"); err != nil {
		return fail(err)
	}
	if run.primary {
		st.OptimStep = l.opt.updates()
		var dir string
		if dir, err = finishCheckpoint(run.dir, tmp, st, keep); err == nil {
			run.logf("checkpoint %s", filepath.Base(dir))
		}
	}
	if err := d.agree(err, "finishing the checkpoint"); err != nil {
		return fail(err)
	}
	return nil
}

// restoreOptimizer loads the optimizer state this rank owns from the checkpoint folder dir, whose
// state.json says st: the range it owns of a file written by any number of ranks.
func (l *learner) restoreOptimizer(dir string, st State) error {
	path := filepath.Join(dir, optimFile)
	n, err := optimFileLen(path)
	if err != nil {
		return fmt.Errorf("--resume: checkpoint %s: %w", dir, err)
	}
	if n != l.flat.N {
		return fmt.Errorf("--resume: the checkpoint's optimizer holds %d values but the model trains %d; was --train-vision changed?", n, l.flat.N)
	}
	lo, hi := l.opt.layout().owned()
	opt, err := readOptimRange(path, lo, hi)
	if err != nil {
		return fmt.Errorf("--resume: checkpoint %s: %w", dir, err)
	}
	opt.Step = st.OptimStep
	return l.restore(opt)
}
