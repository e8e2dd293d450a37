package world

import "math"

// match pairs specs with objects as Understanding describes and returns, for
// each spec, the index of its object or -1.
func match(objs []Object, specs []Spec) []int {
	toObj := make([]int, len(specs))
	for i := range toObj {
		toObj[i] = -1
	}
	taken := make([]bool, len(objs))
	for p, sp := range specs {
		if !ValidCell(sp.Cell) {
			continue
		}
		for t, o := range objs {
			if !taken[t] && o.Cell == sp.Cell {
				toObj[p], taken[t] = t, true
				break
			}
		}
	}
	var restP, restT []int
	for p := range specs {
		if toObj[p] < 0 {
			restP = append(restP, p)
		}
	}
	for t := range objs {
		if !taken[t] {
			restT = append(restT, t)
		}
	}
	if len(restP) == 0 || len(restT) == 0 {
		return toObj
	}
	// weight rewards a pair without contradiction far above any agreement.
	weight := func(p, t int) float64 {
		a := agreement(specs[p], objs[t])
		w := float64(a)
		if a == specs[p].Stated() {
			w += 100
		}
		return w
	}
	rows, cols := restP, restT
	transposed := len(rows) > len(cols)
	if transposed {
		rows, cols = cols, rows
	}
	cost := make([][]float64, len(rows))
	for i, r := range rows {
		cost[i] = make([]float64, len(cols))
		for j, c := range cols {
			if transposed {
				cost[i][j] = -weight(c, r)
			} else {
				cost[i][j] = -weight(r, c)
			}
		}
	}
	for i, j := range assign(cost) {
		if transposed {
			toObj[cols[j]] = rows[i]
		} else {
			toObj[rows[i]] = cols[j]
		}
	}
	return toObj
}

// assign solves the rectangular assignment problem for an n x m cost matrix
// with n <= m (the Hungarian method with potentials, O(n^2 m)): it returns,
// for each row, a distinct column such that the total cost is minimal.
func assign(cost [][]float64) []int {
	n, m := len(cost), len(cost[0])
	u := make([]float64, n+1)
	v := make([]float64, m+1)
	p := make([]int, m+1) // p[j]: row (1-based) matched to column j; 0 = none
	way := make([]int, m+1)
	minv := make([]float64, m+1)
	used := make([]bool, m+1)
	for i := 1; i <= n; i++ {
		p[0] = i
		j0 := 0
		for j := range minv {
			minv[j] = math.Inf(1)
			used[j] = false
		}
		for p[j0] != 0 {
			used[j0] = true
			i0, delta, j1 := p[j0], math.Inf(1), 0
			for j := 1; j <= m; j++ {
				if used[j] {
					continue
				}
				if cur := cost[i0-1][j-1] - u[i0] - v[j]; cur < minv[j] {
					minv[j], way[j] = cur, j0
				}
				if minv[j] < delta {
					delta, j1 = minv[j], j
				}
			}
			for j := 0; j <= m; j++ {
				if used[j] {
					u[p[j]] += delta
					v[j] -= delta
				} else {
					minv[j] -= delta
				}
			}
			j0 = j1
		}
		for j0 != 0 {
			j1 := way[j0]
			p[j0] = p[j1]
			j0 = j1
		}
	}
	rowTo := make([]int, n)
	for j := 1; j <= m; j++ {
		if p[j] > 0 {
			rowTo[p[j]-1] = j - 1
		}
	}
	return rowTo
}
