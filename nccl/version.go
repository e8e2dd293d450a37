package nccl

import "fmt"

// Version is an NCCL release, e.g. 2.30.7.
type Version struct {
	Major, Minor, Patch int
}

// DecodeVersion decodes ncclGetVersion's code: X*1000+Y*100+Z up to 2.8.Z,
// X*10000+Y*100+Z from 2.9 on (2.30.7 is 23007, 2.8.4 is 2804).
func DecodeVersion(code int) Version {
	if code >= 10000 {
		return Version{code / 10000, code % 10000 / 100, code % 100}
	}
	return Version{code / 1000, code % 1000 / 100, code % 100}
}

// Code encodes v as ncclGetVersion does.
func (v Version) Code() int {
	if v.Major > 2 || (v.Major == 2 && v.Minor >= 9) {
		return v.Major*10000 + v.Minor*100 + v.Patch
	}
	return v.Major*1000 + v.Minor*100 + v.Patch
}

// AtLeast reports whether v is major.minor.patch or later.
func (v Version) AtLeast(major, minor, patch int) bool {
	if v.Major != major {
		return v.Major > major
	}
	if v.Minor != minor {
		return v.Minor > minor
	}
	return v.Patch >= patch
}

func (v Version) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// CUDAVersion is a CUDA runtime or driver version as the runtime reports
// it: 1000*major + 10*minor (12040 is 12.4).
type CUDAVersion int

func (v CUDAVersion) String() string {
	if v <= 0 {
		return "none"
	}
	return fmt.Sprintf("%d.%d", int(v)/1000, int(v)%1000/10)
}
