package trainer

import "github.com/sugarme/gotch/ts"

func scalar(x float64) *ts.Scalar { return ts.FloatScalar(x) }
