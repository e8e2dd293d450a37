package raw

import (
	"unsafe"

	lib "github.com/sugarme/gotch/libtch"
)

// elementSizes are the bytes of one value of each libtorch scalar type.
var elementSizes = map[int32]int64{0: 1, 1: 1, 2: 2, 3: 4, 4: 8, 5: 2, 6: 4, 7: 8, 11: 1, 15: 2}

// Bytes is the memory of x's values: its number of elements times the size of its scalar type
// (0 for a nil handle). It counts the tensor's elements, not the storage a view shares.
func Bytes(x Tensor) int64 {
	if x == nil {
		return 0
	}
	n := lib.AtDim(x)
	numel := int64(1)
	if n > 0 {
		shape := make([]int64, n)
		lib.AtShape(x, unsafe.Pointer(&shape[0]))
		for _, d := range shape {
			numel *= d
		}
	}
	return numel * elementSizes[lib.AtScalarType(x)]
}
