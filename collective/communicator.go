package collective

import "context"

// Communicator runs collective operations among the ranks of one job.
//
// All ranks must call the same operations in the same order with buffers of
// the same length. Every method honours the deadline and cancellation of its
// context; after an operation fails the communicator is broken and every
// later operation returns an error, so a job should stop (and possibly
// restart from a checkpoint) rather than retry.
//
// Implementations are not safe for concurrent operations; callers issue one
// operation at a time. Close may be called concurrently to abort.
type Communicator interface {
	// Rank returns this process's rank in [0, Size()).
	Rank() int
	// Size returns the number of ranks.
	Size() int
	// AllReduce combines buf element-wise over all ranks with op and leaves
	// the identical result in every rank's buf.
	AllReduce(ctx context.Context, buf Buffer, op Op) error
	// ReduceScatter combines buf element-wise over all ranks with op and
	// leaves this rank's block of the result in place: elements
	// [Rank()*k, (Rank()+1)*k) for k = buf.Len()/Size(). buf.Len() must be
	// a multiple of Size(); the other blocks are unspecified afterwards.
	ReduceScatter(ctx context.Context, buf Buffer, op Op) error
	// Broadcast copies root's buf into every other rank's buf.
	Broadcast(ctx context.Context, buf Buffer, root int) error
	// AllGather concatenates the send buffers of all ranks in rank order
	// into recv, which must hold Size()*send.Len() elements. send may be
	// recv's own block Rank() (in place).
	AllGather(ctx context.Context, send, recv Buffer) error
	// Barrier returns once every rank has entered it.
	Barrier(ctx context.Context) error
	// Close releases the connections. It aborts an operation in progress.
	Close() error
}
