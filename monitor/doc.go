// Package monitor samples the devices a rank uses at a fixed interval:
// for each GPU, utilisation, memory used and total, power, temperature and
// SM clock through NVML (github.com/NVIDIA/go-nvml, loaded at run time).
//
// Where NVML cannot be used (no driver, no GPU) the sampler falls back to
// the process's own CPU use and resident memory, read from /proc, and
// reports the reason once through Sampler.Notice; the package itself never
// prints.
package monitor
